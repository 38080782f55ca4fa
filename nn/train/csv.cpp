#include <tapegrad/nn/train/csv.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

#include <tapegrad/core/error.h>

namespace tapegrad::train {

namespace {

// A write the disk refused (full, a file-size limit, an I/O error).
[[noreturn]] void throw_write_error(const std::string& message) { throw WriteError(message); }

}  // namespace

namespace {

std::string os_error_text(int error_number) { return std::generic_category().message(error_number); }

// Writes all of `data`, going on after short writes and signals. Returns 0 or the errno of the failure.
int write_all(int descriptor, std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(descriptor, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return 0;
}

// Reads the whole file behind `descriptor` from its start. Returns 0 or the errno of the failure.
int read_all(int descriptor, std::string& content) {
  char buffer[1 << 16];
  off_t offset = 0;
  for (;;) {
    const ssize_t count = ::pread(descriptor, buffer, sizeof buffer, offset);
    if (count < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (count == 0) return 0;
    content.append(buffer, static_cast<std::size_t>(count));
    offset += count;
  }
}

int close_descriptor(int descriptor) { return ::close(descriptor) == 0 ? 0 : errno; }

// fsync fails with EINVAL on files that cannot be synchronised (pipes, character devices); there is nothing to
// flush there, so that is not a failure.
int sync_to_disk(int descriptor) { return ::fsync(descriptor) == 0 || errno == EINVAL ? 0 : errno; }

std::string header_line(const std::vector<std::string>& columns) {
  return csv_line(std::vector<CsvCell>(columns.begin(), columns.end()));
}

// Byte offsets just past the line break of each complete row, header included. A line break inside a quoted
// field does not end a row; the doubled quote of an escaped quote toggles twice and so changes nothing.
std::vector<std::size_t> row_ends(std::string_view content) {
  std::vector<std::size_t> ends;
  bool quoted = false;
  for (std::size_t index = 0; index < content.size(); ++index) {
    if (content[index] == '"') quoted = !quoted;
    if (content[index] == '\n' && !quoted) ends.push_back(index + 1);
  }
  return ends;
}

}  // namespace

CsvCell::CsvCell(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    text_.assign(text);
    return;
  }
  text_.reserve(text.size() + 2);
  text_.push_back('"');
  for (const char character : text) {
    if (character == '"') text_.push_back('"');
    text_.push_back(character);
  }
  text_.push_back('"');
}

std::string shortest_text(double value) { return fmt::format("{}", value); }  // fmt's default: shortest round trip

CsvCell::CsvCell(double value) : text_(shortest_text(value)) {}

std::string csv_line(const std::vector<CsvCell>& cells) {
  std::string line;
  for (std::size_t index = 0; index < cells.size(); ++index) {
    if (index > 0) line += ',';
    line += cells[index].text();
  }
  line += '\n';
  return line;
}

CsvAppender::CsvAppender(std::filesystem::path path, std::vector<std::string> columns, int descriptor,
                         std::size_t rows, std::size_t size_bytes)
    : path_(std::move(path)),
      columns_(std::move(columns)),
      descriptor_(descriptor),
      rows_(rows),
      size_bytes_(size_bytes) {}

CsvAppender CsvAppender::create(const std::filesystem::path& path, std::vector<std::string> columns) {
  if (columns.empty())
    throw_error(fmt::format("cannot start '{}': a CSV file needs at least one column", path.string()));
  const int descriptor = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0666);
  if (descriptor < 0) {
    throw_write_error(fmt::format("cannot create '{}': {}", path.string(), os_error_text(errno)));
  }
  const std::string header = header_line(columns);
  if (const int error_number = write_all(descriptor, header); error_number != 0) {
    close_descriptor(descriptor);
    throw_write_error(
        fmt::format("cannot write the header of '{}': {}", path.string(), os_error_text(error_number)));
  }
  return CsvAppender(path, std::move(columns), descriptor, 0, header.size());
}

CsvAppender CsvAppender::resume(const std::filesystem::path& path, std::vector<std::string> columns,
                                std::size_t kept_rows) {
  const int descriptor = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (descriptor < 0) {
    const int error_number = errno;
    if (error_number == ENOENT && kept_rows == 0) return create(path, std::move(columns));
    throw_error(
        fmt::format("cannot reopen '{}' to resume the run: {}", path.string(), os_error_text(error_number)));
  }
  // From here on every failure must close the descriptor before throwing.
  const auto fail = [&](const std::string& message) {
    close_descriptor(descriptor);
    throw_error(message);
  };
  std::string content;
  if (const int error_number = read_all(descriptor, content); error_number != 0) {
    fail(fmt::format("cannot read '{}' to resume the run: {}", path.string(), os_error_text(error_number)));
  }
  const std::vector<std::size_t> ends = row_ends(content);
  const std::string header = header_line(columns);
  if (ends.empty() && kept_rows == 0) {
    // The run stopped before its header was complete: start the file again.
    if (::ftruncate(descriptor, 0) != 0) {
      fail(fmt::format("cannot truncate '{}' to resume the run: {}", path.string(), os_error_text(errno)));
    }
    if (const int error_number = write_all(descriptor, header); error_number != 0) {
      fail(fmt::format("cannot write the header of '{}': {}", path.string(), os_error_text(error_number)));
    }
    return CsvAppender(path, std::move(columns), descriptor, 0, header.size());
  }
  if (ends.empty() || std::string_view(content).substr(0, ends[0]) != header) {
    // Only the first line, shortened: a file that is not CSV at all should not flood the message.
    const std::string found = content.substr(0, std::min({content.find('\n'), content.size(), std::size_t{200}}));
    fail(
        fmt::format("cannot resume '{}': its header is '{}' but this run writes '{}'; resume with the settings "
                    "of the original run, or start a new run in another directory",
                    path.string(), found, header.substr(0, header.size() - 1)));
  }
  const std::size_t complete_rows = ends.size() - 1;
  if (complete_rows < kept_rows) {
    fail(
        fmt::format("cannot resume '{}': it holds {} complete rows but the checkpoint was taken after {}; the "
                    "file does not belong to this checkpoint; start a new run in another directory",
                    path.string(), complete_rows, kept_rows));
  }
  const std::size_t kept_bytes = ends[kept_rows];
  if (kept_bytes < content.size() && ::ftruncate(descriptor, static_cast<off_t>(kept_bytes)) != 0) {
    fail(fmt::format("cannot truncate '{}' to {} rows to resume the run: {}", path.string(), kept_rows,
                     os_error_text(errno)));
  }
  return CsvAppender(path, std::move(columns), descriptor, kept_rows, kept_bytes);
}

CsvAppender::CsvAppender(CsvAppender&& other) noexcept
    : path_(std::move(other.path_)),
      columns_(std::move(other.columns_)),
      descriptor_(std::exchange(other.descriptor_, -1)),
      rows_(other.rows_),
      size_bytes_(other.size_bytes_) {}

CsvAppender& CsvAppender::operator=(CsvAppender&& other) noexcept {
  if (this != &other) {
    if (descriptor_ >= 0) ::close(descriptor_);
    path_ = std::move(other.path_);
    columns_ = std::move(other.columns_);
    descriptor_ = std::exchange(other.descriptor_, -1);
    rows_ = other.rows_;
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

CsvAppender::~CsvAppender() {
  if (descriptor_ < 0) return;
  ::fsync(descriptor_);
  ::close(descriptor_);
}

void CsvAppender::append_row(const std::vector<CsvCell>& cells) {
  if (descriptor_ < 0) throw_error(fmt::format("cannot append a row to '{}': the file is closed", path_.string()));
  if (cells.size() != columns_.size()) {
    throw_error(fmt::format("cannot append a row to '{}': the row has {} cells but the file has {} columns ({})",
                            path_.string(), cells.size(), columns_.size(), fmt::join(columns_, ",")));
  }
  const std::string line = csv_line(cells);
  if (const int error_number = write_all(descriptor_, line); error_number != 0) {
    // Cut off whatever part of the row did get written, so the file still ends with a complete row.
    [[maybe_unused]] const int ignored = ::ftruncate(descriptor_, static_cast<off_t>(size_bytes_));
    throw_write_error(fmt::format("cannot append a row to '{}': {}", path_.string(), os_error_text(error_number)));
  }
  size_bytes_ += line.size();
  ++rows_;
}

void CsvAppender::close() {
  if (descriptor_ < 0) return;
  const int descriptor = std::exchange(descriptor_, -1);
  const int sync_error = sync_to_disk(descriptor);
  const int close_error = close_descriptor(descriptor);
  if (const int error_number = sync_error != 0 ? sync_error : close_error; error_number != 0) {
    throw_write_error(fmt::format("cannot close '{}': {}", path_.string(), os_error_text(error_number)));
  }
}

}  // namespace tapegrad::train
