// The progress line of nn/train: formats, the terminal status line, and the reporter on and off a terminal.
#include <tapegrad/nn/train/progress.h>

#include "tests/support/test_data.h"
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

using namespace tapegrad::train;
using tapegrad::testing::file_text;

namespace {

// Collects what a ProgressReporter logs, one entry per line.
class CapturedLines {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) { lines_.push_back(line); };
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

std::size_t count_of(const std::string& text, char wanted) {
  std::size_t count = 0;
  for (const char c : text) count += c == wanted ? 1 : 0;
  return count;
}

}  // namespace

TEST_CASE("format_duration and format_rate", "[train][progress]") {
  CHECK(format_duration(3725) == "1:02:05");
  CHECK(format_duration(125) == "2:05");
  CHECK(format_duration(59.4) == "0:59");
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(36000) == "10:00:00");
  CHECK(format_duration(-1) == "--:--");
  CHECK(format_duration(std::nan("")) == "--:--");
  CHECK(format_duration(std::numeric_limits<double>::infinity()) == "--:--");

  CHECK(format_rate(0.25, "steps") == "0.25 steps/s");
  CHECK(format_rate(12.5, "steps") == "12.5 steps/s");
  CHECK(format_rate(1234.4, "steps") == "1234 steps/s");
  CHECK(format_rate(45678, "examples") == "45.7k examples/s");
  CHECK(format_rate(3.2e6, "examples") == "3.20M examples/s");
  CHECK(format_rate(-1, "steps") == "-- steps/s");
}

TEST_CASE("estimate_remaining_seconds and the progress line", "[train][progress]") {
  CHECK(estimate_remaining_seconds(25, 100, 10.0) == Approx(30.0));
  CHECK(estimate_remaining_seconds(100, 100, 10.0) == 0.0);
  CHECK(estimate_remaining_seconds(0, 100, 10.0) < 0.0);
  CHECK(estimate_remaining_seconds(10, 0, 10.0) < 0.0);

  const std::string line = format_progress_line({.label = "epoch 3/20",
                                                 .done = 450,
                                                 .total = 1000,
                                                 .elapsed_seconds = 36.0,
                                                 .unit = "steps",
                                                 .status = "loss 0.532"});
  CHECK(line ==
        "epoch 3/20   45.0% [#########-----------] 450/1000 steps  12.5 steps/s  elapsed 0:36  ETA 0:44  "
        "loss 0.532");
  const std::string unknown_total =
      format_progress_line({.label = "scan", .done = 30, .total = 0, .elapsed_seconds = 2.0, .unit = "files"});
  CHECK(unknown_total == "scan  30 files  15.0 files/s  elapsed 0:02");

  CHECK(format_final_summary("train", 9800, "steps", 3725) == "train: 9800 steps in 1:02:05 (2.63 steps/s)");
}

TEST_CASE("RedrawThrottle lets through at most one redraw per interval", "[train][progress]") {
  RedrawThrottle throttle(0.1);
  CHECK(throttle.should_draw(0.0));
  CHECK_FALSE(throttle.should_draw(0.05));
  CHECK_FALSE(throttle.should_draw(0.099));
  CHECK(throttle.should_draw(0.1));
  CHECK_FALSE(throttle.should_draw(0.15));
  CHECK(throttle.should_draw(0.35));
}

TEST_CASE("StatusLine redraws in place and prints log text above itself", "[train][progress]") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    StatusLine status(file);
    CHECK_FALSE(status.is_terminal());
    status.print_above("before\n");
    status.draw("10%");
    status.draw("20%");
    status.print_above("a log line\n");
    status.finish();
    status.finish();
    status.print_above("after\n");
  }
  CHECK(file_text(file) == "before\n\r10%\033[K\r20%\033[K\r\033[Ka log line\n20%\nafter\n");
  std::fclose(file);
}

TEST_CASE("ProgressReporter on a terminal redraws at most once per interval", "[train][progress]") {
  for (const double interval : {3600.0, 0.0}) {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    {
      CapturedLines log;
      StatusLine status(file);
      ProgressReporter progress(100, {.label = "train",
                                      .redraw_interval_seconds = interval,
                                      .log = log.sink(),
                                      .interactive = true,
                                      .status_line = &status});
      CHECK(progress.interactive());
      for (int step = 0; step < 100; ++step) progress.advance();
      progress.set_status("loss 0.5");
      progress.finish();
      CHECK(log.lines().size() == 1);
      CHECK_THAT(log.lines().at(0), Catch::StartsWith("train: 100 steps in"));
    }
    const std::string text = file_text(file);
    // One redraw per advance when unthrottled, only the first when throttled; finish() draws once more.
    CHECK(count_of(text, '\r') == (interval > 0 ? 2u : 101u));
    const std::string last_drawing = text.substr(text.rfind('\r') + 1);
    CHECK_THAT(last_drawing, Catch::StartsWith("train  100.0% [####################] 100/100 steps"));
    CHECK_THAT(last_drawing, Catch::EndsWith("ETA 0:00  loss 0.5\033[K\n"));
    std::fclose(file);
  }
}

TEST_CASE("ProgressReporter elsewhere logs one line per ten percent and a summary", "[train][progress]") {
  CapturedLines log;
  {
    ProgressReporter progress(50,
                              {.label = "epoch 1/1", .unit = "batches", .log = log.sink(), .interactive = false});
    CHECK_FALSE(progress.interactive());
    for (int step = 0; step < 50; ++step) progress.advance();
    CHECK(progress.done() == 50);
    progress.finish();
    progress.finish();
  }
  const std::vector<std::string> lines = log.lines();
  REQUIRE(lines.size() == 11);
  CHECK_THAT(lines[0], Catch::Contains("10.0%"));
  CHECK_THAT(lines[0], Catch::Contains("5/50 batches"));
  CHECK_THAT(lines[9], Catch::Contains("100.0%"));
  CHECK_THAT(lines[10], Catch::StartsWith("epoch 1/1: 50 batches in"));

  // Left without finish(), as when an exception ends the loop: no summary that would read like success.
  CapturedLines unfinished;
  {
    ProgressReporter progress(50, {.log = unfinished.sink(), .interactive = false});
    progress.advance(3);
  }
  CHECK(unfinished.lines().empty());
}
