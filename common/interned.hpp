#pragma once
/// Interned values: one shared, immutable copy of each distinct value, held
/// by a pointer-sized handle. A million agents mostly share a handful of
/// versions, types, organizations, label sets and capability lists; keeping
/// each once is what lets an agent's record stay small.
///
/// Interned values live as long as the process (a table never shrinks), so
/// intern only values drawn from a small set.
///
/// Thread safety: `Interned<T>::of` may be called from any thread; handles
/// are plain values (copy freely, compare by pointer).

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace muster {

/// Hashes of the value types that get interned.
struct InternHash {
  std::size_t operator()(const std::string& value) const { return std::hash<std::string>{}(value); }
  std::size_t operator()(const std::vector<std::string>& values) const {
    std::size_t hash = values.size();
    for (const auto& value : values) hash = hash * 31 + std::hash<std::string>{}(value);
    return hash;
  }
  std::size_t operator()(const std::map<std::string, std::string>& values) const {
    std::size_t hash = values.size();
    for (const auto& [key, value] : values) {
      hash = hash * 31 + std::hash<std::string>{}(key);
      hash = hash * 31 + std::hash<std::string>{}(value);
    }
    return hash;
  }
};

template <class T>
class Interned {
 public:
  /// The empty value.
  Interned() : value_(empty()) {}

  /// The shared copy of `value`.
  static Interned of(const T& value) {
    if (value == *empty()) return Interned();
    // Values come in runs (a fleet's agents share a version): the last one
    // this thread interned answers most calls without a hash or a lock.
    thread_local const T* last = nullptr;
    if (last != nullptr && *last == value) return Interned(last);
    Table& table = table_for(value);
    std::lock_guard<std::mutex> lock(table.mutex);
    last = &*table.values.insert(value).first;
    return Interned(last);
  }

  const T& get() const { return *value_; }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_; }

  friend bool operator==(Interned left, Interned right) { return left.value_ == right.value_; }
  friend bool operator!=(Interned left, Interned right) { return left.value_ != right.value_; }

 private:
  explicit Interned(const T* value) : value_(value) {}

  struct Table {
    std::mutex mutex;
    // Node-based: a value's address never changes once inserted.
    std::unordered_set<T, InternHash> values;
  };
  static constexpr std::size_t kShards = 16;

  static const T* empty() {
    static const T kEmpty{};
    return &kEmpty;
  }
  static Table& table_for(const T& value) {
    // Leaked on purpose: handles may be used by other static destructors.
    static auto* tables = new std::array<Table, kShards>();
    return (*tables)[InternHash{}(value) % kShards];
  }

  const T* value_;
};

using InternedString = Interned<std::string>;
using InternedStrings = Interned<std::vector<std::string>>;
using InternedLabels = Interned<std::map<std::string, std::string>>;

}  // namespace muster
