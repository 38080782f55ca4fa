#include <fmt/format.h>
#include <tapegrad/nn/train/progress.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace tapegrad::train {

namespace {

constexpr std::string_view clear_to_end_of_line = "\033[K";
constexpr std::size_t bar_width = 20;
// Beyond this an ETA says nothing a user can act on, and llround would overflow long before it matters.
constexpr double longest_shown_seconds = 3600.0 * 99999.0;

double average_rate(std::size_t done, double elapsed_seconds) {
  return elapsed_seconds > 0.0 ? static_cast<double>(done) / elapsed_seconds : -1.0;
}

std::string progress_bar(double fraction) {
  const auto filled = static_cast<std::size_t>(std::floor(fraction * bar_width));
  std::string bar;
  bar.reserve(bar_width + 2);
  bar.push_back('[');
  bar.append(filled, '#');
  bar.append(bar_width - filled, '-');
  bar.push_back(']');
  return bar;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0 || seconds > longest_shown_seconds) return "--:--";
  const long long total = std::llround(seconds);
  const long long hours = total / 3600;
  const long long minutes = (total % 3600) / 60;
  const long long remaining_seconds = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, remaining_seconds);
  return fmt::format("{}:{:02}", minutes, remaining_seconds);
}

std::string format_rate(double per_second, std::string_view unit) {
  if (!std::isfinite(per_second) || per_second < 0.0) return fmt::format("-- {}/s", unit);
  if (per_second >= 1e6) return fmt::format("{:.2f}M {}/s", per_second / 1e6, unit);
  if (per_second >= 1e4) return fmt::format("{:.1f}k {}/s", per_second / 1e3, unit);
  if (per_second >= 100.0) return fmt::format("{:.0f} {}/s", per_second, unit);
  if (per_second >= 10.0) return fmt::format("{:.1f} {}/s", per_second, unit);
  return fmt::format("{:.2f} {}/s", per_second, unit);
}

double estimate_remaining_seconds(std::size_t done, std::size_t total, double elapsed_seconds) {
  if (total == 0 || done == 0 || !(elapsed_seconds >= 0.0)) return -1.0;
  if (done >= total) return 0.0;
  return elapsed_seconds / static_cast<double>(done) * static_cast<double>(total - done);
}

std::string format_progress_line(const ProgressSnapshot& snapshot) {
  std::string line;
  const auto add = [&line](std::string_view part) {
    if (part.empty()) return;
    if (!line.empty()) line += "  ";
    line += part;
  };
  add(snapshot.label);
  if (snapshot.total > 0) {
    const double fraction =
        std::clamp(static_cast<double>(snapshot.done) / static_cast<double>(snapshot.total), 0.0, 1.0);
    add(fmt::format("{:5.1f}% {} {}/{} {}", 100.0 * fraction, progress_bar(fraction), snapshot.done,
                    snapshot.total, snapshot.unit));
  } else {
    add(fmt::format("{} {}", snapshot.done, snapshot.unit));
  }
  add(format_rate(average_rate(snapshot.done, snapshot.elapsed_seconds), snapshot.unit));
  add("elapsed " + format_duration(snapshot.elapsed_seconds));
  if (snapshot.total > 0) {
    add("ETA " +
        format_duration(estimate_remaining_seconds(snapshot.done, snapshot.total, snapshot.elapsed_seconds)));
  }
  add(snapshot.status);
  return line;
}

std::string format_final_summary(std::string_view label, std::size_t done, std::string_view unit,
                                 double elapsed_seconds) {
  return fmt::format("{}: {} {} in {} ({})", label, done, unit, format_duration(elapsed_seconds),
                     format_rate(average_rate(done, elapsed_seconds), unit));
}

bool RedrawThrottle::should_draw(double now_seconds) {
  if (last_draw_seconds_ && now_seconds - *last_draw_seconds_ < interval_seconds_) return false;
  last_draw_seconds_ = now_seconds;
  return true;
}

StatusLine& StatusLine::standard_error() {
  static StatusLine line(stderr);
  return line;
}

bool StatusLine::is_terminal() const { return ::isatty(::fileno(stream_)) == 1; }

void StatusLine::draw(std::string_view line) {
  std::lock_guard lock(mutex_);
  line_.assign(line);
  std::fputc('\r', stream_);
  std::fwrite(line_.data(), 1, line_.size(), stream_);
  std::fwrite(clear_to_end_of_line.data(), 1, clear_to_end_of_line.size(), stream_);
  std::fflush(stream_);
  shown_ = true;
}

void StatusLine::finish() {
  std::lock_guard lock(mutex_);
  if (!shown_) return;
  std::fputc('\n', stream_);
  std::fflush(stream_);
  shown_ = false;
  line_.clear();
}

void StatusLine::print_above(std::string_view text) {
  std::lock_guard lock(mutex_);
  if (shown_) {
    std::fputc('\r', stream_);
    std::fwrite(clear_to_end_of_line.data(), 1, clear_to_end_of_line.size(), stream_);
  }
  std::fwrite(text.data(), 1, text.size(), stream_);
  if (shown_) std::fwrite(line_.data(), 1, line_.size(), stream_);
  std::fflush(stream_);
}

ProgressReporter::ProgressReporter(std::size_t total, ProgressOptions options)
    : total_(total),
      options_(std::move(options)),
      status_line_(options_.status_line != nullptr ? *options_.status_line : StatusLine::standard_error()),
      interactive_(options_.interactive.value_or(status_line_.is_terminal())),
      throttle_(options_.redraw_interval_seconds) {}

ProgressReporter::~ProgressReporter() {
  // Without finish() the loop was left early, usually by an exception: no summary that would read like success,
  // only a line break so that the error message starts on a line of its own.
  if (!finished_ && interactive_) status_line_.finish();
}

void ProgressReporter::advance(std::size_t count) {
  done_ += count;
  if (interactive_) {
    if (throttle_.should_draw(stopwatch_.elapsed_seconds())) status_line_.draw(current_line());
    return;
  }
  const std::size_t step = percent_step_reached();
  if (step > last_logged_step_) {
    last_logged_step_ = step;
    log(current_line());
  }
}

void ProgressReporter::set_status(std::string status) { status_ = std::move(status); }

void ProgressReporter::finish() {
  if (finished_) return;
  finished_ = true;
  if (interactive_) {
    status_line_.draw(current_line());
    status_line_.finish();
  }
  log(format_final_summary(options_.label, done_, options_.unit, stopwatch_.elapsed_seconds()));
}

void ProgressReporter::log(const std::string& line) {
  if (options_.log) {
    options_.log(line);
  } else {
    status_line_.print_above(line + '\n');
  }
}

std::string ProgressReporter::current_line() const {
  return format_progress_line({.label = options_.label,
                               .done = done_,
                               .total = total_,
                               .elapsed_seconds = stopwatch_.elapsed_seconds(),
                               .unit = options_.unit,
                               .status = status_});
}

std::size_t ProgressReporter::percent_step_reached() const {
  if (total_ == 0 || options_.log_every_percent <= 0) return 0;
  const std::size_t capped = std::min(done_, total_);
  return capped * 100 / (total_ * static_cast<std::size_t>(options_.log_every_percent));
}

}  // namespace tapegrad::train
