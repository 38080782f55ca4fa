// What the training loop measures at an evaluation, and the rows it reports.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/nn/train/csv.h>

namespace tapegrad::train {

// A model measured on one data set.
struct Evaluation {
  double loss = 0;      // mean data loss
  double cost = 0;      // loss + penalty (the quantity training minimises)
  double accuracy = 0;  // a fraction in [0, 1]

  bool operator==(const Evaluation&) const = default;
};

// One evaluation point of a run.
struct MetricsRow {
  long step = 0;     // update steps done
  double epoch = 0;  // steps / steps per epoch
  double learning_rate = 0;
  Evaluation train;
  Evaluation validation;

  bool operator==(const MetricsRow&) const = default;
};

// A row from its nine numbers in the order of metrics.csv's columns: step, epoch, learning rate, then loss, cost
// and accuracy on the training evaluation and on the validation set. `fields` must hold exactly nine.
MetricsRow metrics_row_from_fields(std::span<const double> fields);

// metrics.csv as the apps write it (with CsvAppender): its header, and a row's cells in the order of
// metrics_row_from_fields, each number in a form that reads back exactly.
const std::vector<std::string>& metrics_columns();
std::vector<CsvCell> metrics_cells(const MetricsRow& row);
// metrics.csv read back: the rows exactly as metrics_cells wrote them (every number reads back to the same double).
// A last line without its newline (cut off by a crash) is not part of the run and is left out. Throws Error naming
// the file and line when it cannot be read or a line is not a row of metrics_columns().
std::vector<MetricsRow> read_metrics_csv(const std::filesystem::path& path);

// Rows as text that reads back to the very same doubles (hexadecimal floating point, one row per line), for a
// run checkpoint's metadata. decode_metrics_rows throws tapegrad::Error naming the line that does not parse.
std::string encode_metrics_rows(const std::vector<MetricsRow>& rows);
std::vector<MetricsRow> decode_metrics_rows(const std::string& text);

}  // namespace tapegrad::train
