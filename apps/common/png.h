// Writing 8-bit RGB pictures as PNG files with libpng, so that a file under its final name is never partial.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

namespace tapegrad::plot {

// `rgb` holds width * height * 3 bytes, row after row from the top. The PNG is written with
// write_file_atomically (a temporary file, flushed, then renamed to `path`). Throws Error naming `path` (and the
// reason) when it cannot be written; no temporary file is left behind then.
void write_png_file(const std::filesystem::path& path, int width, int height, std::span<const std::uint8_t> rgb);

}  // namespace tapegrad::plot
