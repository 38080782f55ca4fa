#include <tapegrad/nn/train/metrics.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <tapegrad/core/error.h>

namespace tapegrad::train {
namespace {

constexpr int kFieldsPerRow = 9;

}  // namespace

MetricsRow metrics_row_from_fields(std::span<const double> fields) {
  if (fields.size() != kFieldsPerRow) {
    throw_error(fmt::format("metrics row: {} numbers given, a row has {}", fields.size(), kFieldsPerRow));
  }
  MetricsRow row;
  row.step = static_cast<long>(fields[0]);
  row.epoch = fields[1];
  row.learning_rate = fields[2];
  row.train = {fields[3], fields[4], fields[5]};
  row.validation = {fields[6], fields[7], fields[8]};
  return row;
}

const std::vector<std::string>& metrics_columns() {
  static const std::vector<std::string> columns = {"step",       "epoch",      "learning_rate",
                                                   "train_loss", "train_cost", "train_accuracy",
                                                   "val_loss",   "val_cost",   "val_accuracy"};
  return columns;
}

std::vector<CsvCell> metrics_cells(const MetricsRow& row) {
  return {static_cast<long long>(row.step), row.epoch,           row.learning_rate,
          row.train.loss,                   row.train.cost,      row.train.accuracy,
          row.validation.loss,              row.validation.cost, row.validation.accuracy};
}

std::vector<MetricsRow> read_metrics_csv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(fmt::format("cannot read '{}': the file is missing or unreadable", path.string()));
  std::string line;
  std::getline(in, line);  // the header
  std::vector<MetricsRow> rows;
  for (long line_number = 2; std::getline(in, line) && !in.eof(); ++line_number) {
    std::vector<double> values;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) {
      char* end = nullptr;
      values.push_back(std::strtod(cell.c_str(), &end));
      if (cell.empty() || end != cell.c_str() + cell.size()) {
        throw_error(fmt::format("'{}' line {} holds '{}' where a number belongs", path.string(), line_number, cell));
      }
    }
    if (values.size() != static_cast<std::size_t>(kFieldsPerRow)) {
      throw_error(fmt::format("'{}' line {} has {} fields instead of {}", path.string(), line_number, values.size(),
                              kFieldsPerRow));
    }
    rows.push_back(metrics_row_from_fields(values));
  }
  return rows;
}

std::string encode_metrics_rows(const std::vector<MetricsRow>& rows) {
  std::string text;
  for (const MetricsRow& row : rows) {
    // "{:a}" is exact: every double reads back to itself through strtod.
    text += fmt::format("{} {:a} {:a} {:a} {:a} {:a} {:a} {:a} {:a}\n", row.step, row.epoch, row.learning_rate,
                        row.train.loss, row.train.cost, row.train.accuracy, row.validation.loss,
                        row.validation.cost, row.validation.accuracy);
  }
  return text;
}

std::vector<MetricsRow> decode_metrics_rows(const std::string& text) {
  std::vector<MetricsRow> rows;
  std::size_t begin = 0;
  long line_number = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    const std::string line = text.substr(begin, end - begin);
    double values[kFieldsPerRow];
    const char* cursor = line.c_str();
    for (int field = 0; field < kFieldsPerRow; ++field) {
      char* field_end = nullptr;
      errno = 0;
      values[field] = std::strtod(cursor, &field_end);
      if (field_end == cursor || errno == ERANGE) {
        throw_error(fmt::format("metrics rows: line {} ('{}') has no number in field {} of {}; the run checkpoint's "
                                "metadata is damaged, use an earlier checkpoint",
                                line_number, line, field + 1, kFieldsPerRow));
      }
      cursor = field_end;
    }
    if (*cursor != '\0') {
      throw_error(fmt::format("metrics rows: line {} ('{}') has more than {} fields; the run checkpoint's metadata "
                              "is damaged, use an earlier checkpoint",
                              line_number, line, kFieldsPerRow));
    }
    rows.push_back(metrics_row_from_fields(values));
    begin = end + 1;
  }
  return rows;
}

}  // namespace tapegrad::train
