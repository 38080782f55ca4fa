// CSV files a run writes as it goes (metrics.csv, one row per evaluation): rows appended whole, so that a crash, a
// kill or a full disk never leaves half a row, and a resumed run that continues the file of the run it resumes.
#pragma once

#include <concepts>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::train {

// One CSV field, written in its shortest exact form: integers as they are, floating-point numbers with as few
// digits as read back to the same value, text quoted only when it holds a comma, a quote or a line break.
class CsvCell {
 public:
  CsvCell(std::string_view text);
  CsvCell(const char* text) : CsvCell(std::string_view(text)) {}
  CsvCell(const std::string& text) : CsvCell(std::string_view(text)) {}
  template <std::integral Integer>
  requires(!std::same_as<Integer, bool> && !std::same_as<Integer, char>) CsvCell(Integer value)
      : text_(std::to_string(value)) {}
  CsvCell(double value);
  CsvCell(float value) : CsvCell(static_cast<double>(value)) {}

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// A number in the shortest form that reads back exactly ("0.001", "1e-05"), as CSV cells write it.
std::string shortest_text(double value);

// The cells joined by commas, with the line break: one CSV row as written.
std::string csv_line(const std::vector<CsvCell>& cells);

// Appends rows to a CSV file (metrics.csv) with one write() each, so a row is either all in the file or not at
// all; a row that fails half-way (disk full) is cut off again before the error is thrown. Nothing is buffered in
// the process: every row is in the kernel when append_row returns.
class CsvAppender {
 public:
  // Starts `path` afresh: truncates it and writes the header row.
  static CsvAppender create(const std::filesystem::path& path, std::vector<std::string> columns);

  // Continues a file an interrupted run wrote: checks that its header is `columns` and keeps its first
  // `kept_rows` data rows, dropping later rows (written after the checkpoint being resumed) and any partial
  // row. A missing file is created when kept_rows is 0. Throws tapegrad::Error when the header differs or the
  // file holds fewer complete rows than kept_rows.
  static CsvAppender resume(const std::filesystem::path& path, std::vector<std::string> columns,
                            std::size_t kept_rows);

  CsvAppender(CsvAppender&& other) noexcept;
  CsvAppender& operator=(CsvAppender&& other) noexcept;
  CsvAppender(const CsvAppender&) = delete;
  CsvAppender& operator=(const CsvAppender&) = delete;
  ~CsvAppender();

  // Throws tapegrad::Error when the row does not have one cell per column, WriteError when the write fails.
  void append_row(const std::vector<CsvCell>& cells);

  // Data rows in the file, not counting the header.
  std::size_t rows() const { return rows_; }
  const std::vector<std::string>& columns() const { return columns_; }
  const std::filesystem::path& path() const { return path_; }

  // Flushes the file to disk (fsync) and closes it; throws WriteError on failure. The destructor does the same
  // quietly.
  void close();

 private:
  CsvAppender(std::filesystem::path path, std::vector<std::string> columns, int descriptor, std::size_t rows,
              std::size_t size_bytes);

  std::filesystem::path path_;
  std::vector<std::string> columns_;
  int descriptor_ = -1;
  std::size_t rows_ = 0;
  std::size_t size_bytes_ = 0;
};

}  // namespace tapegrad::train
