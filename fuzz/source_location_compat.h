// Force-included (-include) into every file of a fuzz build, and only there. clang before 15 lacks the
// __builtin_source_location that libstdc++ 12's <source_location> needs, so with clang 14 that header declares
// nothing and the library (core/error.h and the ops, which take a std::source_location for their error messages)
// does not compile. This stand-in gives std::source_location the same interface from the older __builtin_FILE /
// __builtin_LINE family, which clang 14 has. It turns itself off with any compiler that has the builtin (clang 15
// and later, g++), so it never replaces a real implementation.
#pragma once

#if defined(__clang__) && !__has_builtin(__builtin_source_location)
#include <cstdint>

namespace std {
struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           std::uint_least32_t line = __builtin_LINE(),
                                           std::uint_least32_t column = __builtin_COLUMN()) noexcept {
    source_location location;
    location.file_ = file;
    location.function_ = function;
    location.line_ = line;
    location.column_ = column;
    return location;
  }
  constexpr source_location() noexcept = default;
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return column_; }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0;
  std::uint_least32_t column_ = 0;
};
}  // namespace std
#endif
