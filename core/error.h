// tapegrad::Error: the one exception type for everything a user can get wrong.
#pragma once

#include <cstddef>
#include <source_location>
#include <stdexcept>
#include <string>

namespace tapegrad {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A file the library was asked to write could not be written (a full disk, a file-size limit, no permission); the
// message names the file, what failed and the system's reason, and any previous file there is unchanged. Its own
// type so that a program can tell "make room and run again" apart from a mistake in its input.
class WriteError : public Error {
 public:
  explicit WriteError(const std::string& message) : Error(message) {}
};

// "(rows x cols)", the way every shape appears in messages.
std::string shape_string(std::ptrdiff_t rows, std::ptrdiff_t cols);

// Appends " [at file:line]" for the caller's location when one is known, so that a shape error points at the
// user's line rather than at the library.
std::string with_location(const std::string& message, const std::source_location& where);

[[noreturn]] void throw_error(const std::string& message);
[[noreturn]] void throw_error(const std::string& message, const std::source_location& where);

}  // namespace tapegrad
