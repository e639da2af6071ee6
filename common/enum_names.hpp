#pragma once
/// An enum's names in one table, read both ways: what events, snapshots and
/// the API write for a value, and the value a name stands for.
///
///   constexpr std::pair<Color, const char*> kColorNames[] = {{Color::red, "red"}, ...};
///   name_in(kColorNames, Color::red)  -> "red"
///   value_in(kColorNames, "red")      -> Color::red; nullopt for a name not in the table

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace muster {

/// The name of `value`; the table's first name for a value not in it.
template <class Enum, std::size_t N>
const char* name_in(const std::pair<Enum, const char*> (&table)[N], Enum value) {
  for (const auto& entry : table) {
    if (entry.first == value) return entry.second;
  }
  return table[0].second;
}

/// The value named `name`; nullopt if no entry has that name.
template <class Enum, std::size_t N>
std::optional<Enum> value_in(const std::pair<Enum, const char*> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (name == entry.second) return entry.first;
  }
  return std::nullopt;
}

}  // namespace muster
