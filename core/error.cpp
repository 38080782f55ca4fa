#include <tapegrad/core/error.h>

#include <fmt/format.h>

#include <cstring>

namespace tapegrad {

std::string shape_string(std::ptrdiff_t rows, std::ptrdiff_t cols) { return fmt::format("({} x {})", rows, cols); }

std::string with_location(const std::string& message, const std::source_location& where) {
  const char* file = where.file_name();
  if (file == nullptr || std::strlen(file) == 0 || where.line() == 0) return message;
  return fmt::format("{} [at {}:{}]", message, file, where.line());
}

void throw_error(const std::string& message) { throw Error(message); }

void throw_error(const std::string& message, const std::source_location& where) {
  throw Error(with_location(message, where));
}

}  // namespace tapegrad
