// Progress of a long loop: a line with percentage, rate, elapsed time and ETA, redrawn in place on a terminal,
// plain log lines at a modest rate otherwise (CI logs, files), and a one-line summary at the end.
#pragma once

#include <tapegrad/nn/train/timing.h>

#include <cstddef>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace tapegrad::train {

// "1:02:05" for 3725 s, "2:05" for 125 s, "0:00" for 0.4 s; "--:--" when unknown (negative, NaN, infinite).
std::string format_duration(double seconds);

// The rate with as many digits as are worth reading: "0.25 steps/s", "12.5 steps/s", "1234 steps/s",
// "45.7k examples/s", "3.20M examples/s"; "-- steps/s" when unknown (negative, NaN, infinite).
std::string format_rate(double per_second, std::string_view unit);

// Seconds left at the average rate so far; negative (unknown) before anything is done or when total is unknown.
double estimate_remaining_seconds(std::size_t done, std::size_t total, double elapsed_seconds);

struct ProgressSnapshot {
  std::string_view label{};  // "epoch 3/20"
  std::size_t done = 0;
  std::size_t total = 0;  // 0: unknown, so no percentage, bar or ETA
  double elapsed_seconds = 0.0;
  std::string_view unit = "steps";
  std::string_view status{};  // appended as is, e.g. "loss 0.532"
};

// "train  45.0% [#########-----------] 450/1000 steps  12.5 steps/s  elapsed 0:36  ETA 0:44  loss 0.532"
std::string format_progress_line(const ProgressSnapshot& snapshot);

// "train: 1000 steps in 1:02:05 (0.27 steps/s)"
std::string format_final_summary(std::string_view label, std::size_t done, std::string_view unit,
                                 double elapsed_seconds);

// Lets a redraw through at most once per `interval_seconds`; the first one always passes.
class RedrawThrottle {
 public:
  explicit RedrawThrottle(double interval_seconds) : interval_seconds_(interval_seconds) {}
  bool should_draw(double now_seconds);

 private:
  double interval_seconds_;
  std::optional<double> last_draw_seconds_;
};

// The one line at the bottom of a terminal that shows progress. A logger that prints its messages through
// print_above() never lands in the middle of the progress line (the apps' configure_logging does).
class StatusLine {
 public:
  explicit StatusLine(std::FILE* stream) : stream_(stream) {}
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  // The status line on stderr, shared by every reporter and logger of the process.
  static StatusLine& standard_error();

  bool is_terminal() const;
  // Replaces the line in place.
  void draw(std::string_view line);
  // Leaves the last drawing on screen and moves to a new line; nothing when no line is shown.
  void finish();
  // Writes `text` (complete lines) where the status line is, then draws the status line again below it.
  void print_above(std::string_view text);

 private:
  std::FILE* stream_;
  std::mutex mutex_;
  std::string line_;
  bool shown_ = false;
};

struct ProgressOptions {
  std::string label = "progress";
  std::string unit = "steps";
  double redraw_interval_seconds = 0.1;  // on a terminal: at most ~10 redraws per second
  int log_every_percent = 10;            // elsewhere: one log line per this much progress
  // Where those log lines and the final summary go; default: the status line's stream, one line each.
  std::function<void(const std::string&)> log{};
  std::optional<bool> interactive{};  // default: whether the status line's stream is a terminal
  StatusLine* status_line = nullptr;  // default: StatusLine::standard_error()
};

// Reports progress towards `total` units of work (0 if unknown). On a terminal the line is redrawn in place; when
// not, a line goes to options.log each log_every_percent. finish() (or the destructor) ends the line and logs
// format_final_summary.
class ProgressReporter {
 public:
  explicit ProgressReporter(std::size_t total, ProgressOptions options = {});
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;
  ~ProgressReporter();

  void advance(std::size_t count = 1);
  // Extra text at the end of the line, e.g. "loss 0.532"; shown with the next redraw.
  void set_status(std::string status);
  void finish();

  std::size_t done() const { return done_; }
  bool interactive() const { return interactive_; }
  double elapsed_seconds() const { return stopwatch_.elapsed_seconds(); }

 private:
  std::string current_line() const;
  void log(const std::string& line);
  std::size_t percent_step_reached() const;

  std::size_t total_;
  ProgressOptions options_;
  StatusLine& status_line_;
  bool interactive_;
  Stopwatch stopwatch_;
  RedrawThrottle throttle_;
  std::size_t done_ = 0;
  std::size_t last_logged_step_ = 0;
  std::string status_;
  bool finished_ = false;
};

}  // namespace tapegrad::train
