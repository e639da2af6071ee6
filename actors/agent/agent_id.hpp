#pragma once
/// An agent's id: a random (version 4) UUID, held as its 16 bytes. The API,
/// the events and the streams write it in canonical lowercase text
/// (8-4-4-4-12 hex digits); a million of them cost 16 MB, not 80.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace muster {

class AgentId {
 public:
  /// The nil UUID: no agent.
  AgentId() = default;

  /// A fresh random id.
  static AgentId random();

  /// Reads the canonical lowercase form; nullopt for anything else.
  static std::optional<AgentId> parse(std::string_view text);

  /// The id whose 16 bytes these are (as `bytes()` gave them, e.g. in a snapshot).
  static AgentId from_bytes(const std::array<std::uint8_t, 16>& bytes) {
    AgentId id;
    id.bytes_ = bytes;
    return id;
  }

  std::string to_string() const;
  bool is_nil() const { return bytes_ == std::array<std::uint8_t, 16>{}; }

  friend bool operator==(const AgentId& left, const AgentId& right) { return left.bytes_ == right.bytes_; }
  friend bool operator!=(const AgentId& left, const AgentId& right) { return left.bytes_ != right.bytes_; }
  /// Byte order is the order of the canonical text: lists sort by id either way.
  friend bool operator<(const AgentId& left, const AgentId& right) { return left.bytes_ < right.bytes_; }

  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

struct AgentIdHash {
  // noexcept: unordered containers then do not cache the hash in every node.
  std::size_t operator()(const AgentId& id) const noexcept {
    // Random ids: any 8 of their bytes are a good hash.
    std::size_t hash = 0;
    for (std::size_t index = 0; index < sizeof(hash); ++index) hash = hash << 8 | id.bytes()[index];
    return hash;
  }
};

}  // namespace muster
