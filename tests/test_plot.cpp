// The charts the apps write: what each chart lays out (the ranges, ticks, labels, legend, bins and grid it was
// given), and for each chart type one real PNG, checked for its size and that cairo decodes it.
#include <cairo.h>
#include <tapegrad/core/error.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/nn/train/curves.h>

#include "tests/support/test_data.h"

namespace plot = tapegrad::plot;
using tapegrad::testing::TempDir;
using tapegrad::testing::error_message;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct PictureSize {
  int width = 0;
  int height = 0;
};

// The size a PNG file states in its header (the IHDR chunk right after the signature), after checking that cairo
// decodes the whole file.
PictureSize png_size(const std::filesystem::path& path) {
  const std::string bytes = tapegrad::testing::read_bytes(path);
  REQUIRE(bytes.size() > 24);
  REQUIRE(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  REQUIRE(bytes.substr(12, 4) == "IHDR");
  auto big_endian = [&](std::size_t offset) {
    std::uint32_t value = 0;
    for (std::size_t index = 0; index < 4; ++index)
      value = value << 8 | static_cast<unsigned char>(bytes[offset + index]);
    return static_cast<int>(value);
  };
  cairo_surface_t* decoded = cairo_image_surface_create_from_png(path.c_str());
  const cairo_status_t status = cairo_surface_status(decoded);
  const int decoded_width = cairo_image_surface_get_width(decoded);
  cairo_surface_destroy(decoded);
  CHECK(status == CAIRO_STATUS_SUCCESS);
  CHECK(decoded_width == big_endian(16));
  return {big_endian(16), big_endian(20)};
}

std::vector<std::string> files_in(const std::filesystem::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<double> tick_values(const std::vector<plot::Tick>& ticks) {
  std::vector<double> values;
  for (const auto& tick : ticks) values.push_back(tick.value);
  return values;
}

std::vector<std::string> tick_labels(const std::vector<plot::Tick>& ticks) {
  std::vector<std::string> labels;
  for (const auto& tick : ticks) labels.push_back(tick.label);
  return labels;
}

// Ticks as a reader expects them: inside the range, evenly spaced by 1, 2 or 5 times a power of ten.
void check_nice_linear_ticks(const std::vector<plot::Tick>& ticks, const plot::AxisRange& range) {
  REQUIRE(ticks.size() >= 3);
  CHECK(ticks.size() <= 12);
  const double step = ticks[1].value - ticks[0].value;
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  CHECK((std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6));
  for (std::size_t index = 0; index < ticks.size(); ++index) {
    CHECK(ticks[index].value >= range.min - 1e-9 * step);
    CHECK(ticks[index].value <= range.max + 1e-9 * step);
    CHECK(ticks[index].value == Approx(ticks[0].value + index * step).margin(1e-9 * step));
    CHECK(std::remainder(ticks[index].value, step) == Approx(0).margin(1e-6 * step));
  }
}

bool inside(const plot::Rectangle& outer, const plot::Rectangle& inner) {
  return inner.left >= outer.left && inner.right <= outer.right && inner.top >= outer.top &&
         inner.bottom <= outer.bottom;
}

bool contains_no_data(const plot::Frame& frame) {
  return std::any_of(frame.annotations.begin(), frame.annotations.end(),
                     [](const plot::Annotation& note) { return note.text == "no data"; });
}

plot::LineChart training_curves() {
  plot::LineChart chart{.title = "Cost", .x_axis = {.label = "epoch"}, .y_axis = {.label = "cost"}};
  plot::Series training{.name = "training"};
  plot::Series validation{.name = "validation"};
  for (int epoch = 0; epoch <= 40; ++epoch) {
    training.x.push_back(epoch);
    training.y.push_back(1.6 + 0.8 * std::exp(-epoch / 8.0));
    validation.x.push_back(epoch);
    validation.y.push_back(1.7 + 0.75 * std::exp(-epoch / 9.0));
  }
  chart.series = {training, validation};
  return chart;
}

}  // namespace

// ---- Line chart ----

TEST_CASE("plot: line chart: a real PNG of the chart's size that cairo decodes", "[plot]") {
  TempDir directory("plot");
  const plot::LineChart chart = training_curves();
  plot::save(chart, directory / "cost.png");
  const PictureSize size = png_size(directory / "cost.png");
  CHECK(size.width == 800);
  CHECK(size.height == 500);
  CHECK(files_in(directory.path()) == std::vector<std::string>{"cost.png"});  // no temporary file stays

  plot::LineChart large = chart;
  large.width = 1600;
  large.height = 1000;
  plot::save(large, directory / "cost.png");  // replaces the smaller one whole
  const PictureSize larger = png_size(directory / "cost.png");
  CHECK(larger.width == 1600);
  CHECK(larger.height == 1000);
}

TEST_CASE("plot: line chart: the axes follow the data with a margin, or the ends given", "[plot]") {
  const plot::LineChart chart = training_curves();
  const plot::Frame frame = plot::layout(chart);
  CHECK(frame.width == 800);
  CHECK(frame.height == 500);
  // 3 percent of the x span, 5 percent of the y span on each side.
  CHECK(frame.x.min == Approx(-1.2));
  CHECK(frame.x.max == Approx(41.2));
  const double y_low = 1.6 + 0.8 * std::exp(-5.0);
  const double y_high = 1.7 + 0.75;
  CHECK(frame.y.min == Approx(y_low - 0.05 * (y_high - y_low)));
  CHECK(frame.y.max >= y_high);
  check_nice_linear_ticks(frame.x_ticks, frame.x);
  check_nice_linear_ticks(frame.y_ticks, frame.y);
  CHECK(tick_values(frame.x_ticks) == std::vector<double>{0, 5, 10, 15, 20, 25, 30, 35, 40});
  CHECK(tick_labels(frame.x_ticks).back() == "40");
  // One format for every label of an axis, with the decimals its step needs.
  for (const auto& label : tick_labels(frame.y_ticks)) CHECK(label.size() == 3);  // "1.8", "2.0", ...
  CHECK(frame.title == "Cost");
  CHECK(frame.x_label == "epoch");
  CHECK(frame.y_label == "cost");
  // The plot takes most of the picture, with room for the labels around it.
  const plot::Rectangle& area = frame.plot_area;
  CHECK(area.left > 40);
  CHECK(area.top > 20);
  CHECK(area.right < 800);
  CHECK(area.bottom < 460);
  CHECK(area.width() > 0.75 * 800);
  CHECK(area.height() > 0.75 * 500);
  CHECK(frame.x_to_pixel(frame.x.min) == Approx(area.left));
  CHECK(frame.y_to_pixel(frame.y.min) == Approx(area.bottom));

  plot::LineChart fixed = chart;
  fixed.x_axis.min = 0.0;
  fixed.x_axis.max = 50.0;
  fixed.y_axis.min = 0.0;
  const plot::Frame fixed_frame = plot::layout(fixed);
  CHECK(fixed_frame.x.min == 0);
  CHECK(fixed_frame.x.max == 50);
  CHECK(fixed_frame.y.min == 0);
  CHECK(tick_values(fixed_frame.y_ticks).front() == 0);
  CHECK(tick_labels(fixed_frame.y_ticks).front() == "0.0");
}

TEST_CASE("plot: line chart: ticks and labels for small, large and negative values", "[plot]") {
  plot::LineChart chart;
  chart.legend = plot::LegendPlace::none;
  chart.series.push_back({.x = {0, 1}, .y = {-3e-5, 2e-5}});
  plot::Frame frame = plot::layout(chart);
  check_nice_linear_ticks(frame.y_ticks, frame.y);
  CHECK(tick_labels(frame.y_ticks).front().find("e\u2212") != std::string::npos);  // 1e-5 style, a minus sign
  CHECK(tick_labels(frame.y_ticks).front().rfind("\u2212", 0) == 0);

  chart.series[0].x = {0, 2.5e6};
  frame = plot::layout(chart);
  check_nice_linear_ticks(frame.x_ticks, frame.x);
  for (const auto& label : tick_labels(frame.x_ticks))
    CHECK((label == "0" || label.find('e') != std::string::npos));
  // Wide labels ask for fewer ticks: they never run into each other.
  CHECK(frame.x_ticks.size() <= 7);
}

TEST_CASE("plot: line chart: a log10 axis has a tick at each power of ten and skips values at or below zero",
          "[plot]") {
  plot::LineChart chart;
  chart.x_axis = {.label = "learning rate", .scale = plot::Scale::log10, .min = 1e-5, .max = 1.0};
  chart.y_axis = {.label = "loss", .min = 0.0, .max = 4.0};
  chart.series.push_back({.name = "loss", .x = {-1.0, 0.0, 1e-4, 1e-2, 1}, .y = {3, 3, 1, 2, 3}});
  const plot::Frame frame = plot::layout(chart);
  CHECK(frame.x.scale == plot::Scale::log10);
  CHECK(tick_values(frame.x_ticks) == std::vector<double>{1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1});
  CHECK(tick_labels(frame.x_ticks) ==
        std::vector<std::string>{"1e\u22125", "1e\u22124", "1e\u22123", "1e\u22122", "1e\u22121", "1"});
  CHECK(frame.x_minor_ticks.size() == 5 * 8);  // 2..9 times each of five decades
  // Five decades across the width: 1e-4 is one fifth in.
  CHECK(frame.x_to_pixel(1e-4) == Approx(frame.plot_area.left + frame.plot_area.width() / 5));
  CHECK(std::isnan(frame.x_to_pixel(0.0)));

  plot::LineChart narrow;
  narrow.x_axis = {.scale = plot::Scale::log10};
  narrow.series.push_back({.x = {2, 3, 7}, .y = {1, 2, 3}});
  const plot::Frame narrow_frame = plot::layout(narrow);  // less than a decade: 2, 3, 4, ... labelled plainly
  CHECK(narrow_frame.x_ticks.size() >= 3);
  CHECK(tick_labels(narrow_frame.x_ticks).front() == "2");
}

TEST_CASE("plot: line chart: the legend names each series and sits in the corner that hides no data", "[plot]") {
  plot::LineChart chart;
  chart.x_axis = {.min = 0.0, .max = 10.0};
  chart.y_axis = {.min = 0.0, .max = 10.0};
  // Falling curves: the upper right corner is free.
  chart.series.push_back({.name = "training", .x = {0, 5, 10}, .y = {9, 3, 1}});
  chart.series.push_back({.name = "validation",
                          .x = {0, 5, 10},
                          .y = {9.5, 4, 2},
                          .style = plot::SeriesStyle::line_with_markers,
                          .color = plot::rgb(0x123456)});
  plot::Frame frame = plot::layout(chart);
  REQUIRE(frame.legend);
  CHECK(frame.legend->corner == plot::LegendPlace::upper_right);
  CHECK(inside(frame.plot_area, frame.legend->box));
  REQUIRE(frame.legend->entries.size() == 2);
  CHECK(frame.legend->entries[0].text == "training");
  CHECK(frame.legend->entries[0].color == plot::series_color(0));
  CHECK(frame.legend->entries[0].mark == plot::LegendMark::line);
  CHECK(frame.legend->entries[1].text == "validation");
  CHECK(frame.legend->entries[1].color == plot::rgb(0x123456));
  CHECK(frame.legend->entries[1].mark == plot::LegendMark::line_and_marker);

  // Rising curves: the legend moves to the free upper left corner.
  for (auto& series : chart.series) std::reverse(series.y.begin(), series.y.end());
  frame = plot::layout(chart);
  REQUIRE(frame.legend);
  CHECK(frame.legend->corner == plot::LegendPlace::upper_left);

  chart.legend = plot::LegendPlace::lower_right;
  CHECK(plot::layout(chart).legend->corner == plot::LegendPlace::lower_right);
  chart.legend = plot::LegendPlace::none;
  CHECK_FALSE(plot::layout(chart).legend);
  chart.legend = plot::LegendPlace::best;
  for (auto& series : chart.series) series.name.clear();  // unnamed series have no entry
  CHECK_FALSE(plot::layout(chart).legend);
}

TEST_CASE("plot: line chart: when every corner holds data, the y axis grows to make room above it", "[plot]") {
  plot::LineChart chart;
  // Zig-zags reaching every corner of the data's range.
  chart.series.push_back({.name = "noisy", .x = {0, 1, 2, 3, 4, 5, 6}, .y = {0, 10, 0, 10, 0, 10, 0}});
  chart.series.push_back({.name = "noisier", .x = {0, 1, 2, 3, 4, 5, 6}, .y = {10, 0, 10, 0, 10, 0, 10}});
  const plot::Frame frame = plot::layout(chart);
  REQUIRE(frame.legend);
  CHECK(frame.y.max > 10.5);
  // The box ends above the highest point.
  CHECK(frame.legend->box.bottom < frame.y_to_pixel(10));
  CHECK(frame.legend->box.top >= frame.plot_area.top);

  chart.y_axis.max = 10.0;  // a fixed top stays
  CHECK(plot::layout(chart).y.max == 10);
}

TEST_CASE("plot: line chart: NaN, infinite and missing data never crash and say so", "[plot]") {
  TempDir directory("plot");
  plot::LineChart gappy;
  gappy.series.push_back({.name = "gappy", .x = {0, 1, 2, 3, 4}, .y = {1, 2, kNaN, 1, kInfinity}});
  const plot::Frame gappy_frame = plot::layout(gappy);
  CHECK(gappy_frame.y.max < 3);  // the range follows the plottable points only
  CHECK_FALSE(contains_no_data(gappy_frame));

  plot::LineChart empty;
  empty.title = "Empty";
  empty.series.push_back({.name = "nan", .x = {1, 2, 3}, .y = {kNaN, kNaN, kNaN}});
  empty.series.push_back({.name = "infinite", .x = {kInfinity, 1}, .y = {1, -kInfinity}});
  empty.series.push_back({.name = "empty"});
  const plot::Frame frame = plot::layout(empty);
  CHECK(contains_no_data(frame));
  REQUIRE(frame.legend);
  CHECK(frame.legend->entries[0].text == "nan (no data)");
  CHECK(frame.legend->entries[2].text == "empty (no data)");
  plot::save(empty, directory / "empty.png");
  CHECK(png_size(directory / "empty.png").width == 800);

  CHECK(contains_no_data(plot::layout(plot::LineChart{})));
  plot::LineChart huge;
  huge.series.push_back({.name = "huge", .x = {0, 1, 2}, .y = {1, 1e308, -1e308}});
  CHECK_NOTHROW(plot::save(huge, directory / "huge.png"));
}

TEST_CASE("plot: line chart: long texts are shortened to fit the picture", "[plot]") {
  plot::LineChart chart = training_curves();
  chart.title = std::string(400, 'w');
  chart.series[0].name =
      "a very long series name that would otherwise cover half of the plot area " + std::string(100, 'x');
  const plot::Frame frame = plot::layout(chart);
  CHECK(frame.title.size() < 200);
  CHECK(frame.title.ends_with("..."));
  REQUIRE(frame.legend);
  CHECK(frame.legend->entries[0].text.ends_with("..."));
  CHECK(frame.legend->box.width() < 0.5 * frame.plot_area.width());
}

TEST_CASE("plot: line chart: descriptions that cannot be drawn throw Error saying why", "[plot]") {
  plot::LineChart chart;
  chart.series.push_back({.name = "validation", .x = {1, 2, 3}, .y = {1, 2}});
  const std::string message = error_message([&] { plot::layout(chart); });
  CHECK_THAT(message,
             Catch::Contains("validation") && Catch::Contains("3 x values") && Catch::Contains("2 y values"));

  plot::LineChart reversed;
  reversed.x_axis = {.min = 5.0, .max = 1.0};
  CHECK_THAT(error_message([&] { plot::layout(reversed); }), Catch::Contains("min") && Catch::Contains("max"));
  plot::LineChart log_from_zero;
  log_from_zero.x_axis = {.scale = plot::Scale::log10, .min = 0.0};
  CHECK_THAT(error_message([&] { plot::layout(log_from_zero); }), Catch::Contains("log scale"));
  plot::LineChart tiny;
  tiny.width = 100;
  CHECK_THAT(error_message([&] { plot::layout(tiny); }), Catch::Contains("100 x 500"));
  plot::LineChart thick;
  thick.line_width = 0;
  CHECK_THAT(error_message([&] { plot::layout(thick); }), Catch::Contains("line width"));
}

// ---- Files ----

TEST_CASE("plot: save writes SVG for .svg, refuses other extensions and names a path it cannot write", "[plot]") {
  TempDir directory("plot");
  const plot::LineChart chart = training_curves();
  plot::save(chart, directory / "cost.svg");
  const std::string svg = tapegrad::testing::read_bytes(directory / "cost.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("width=\"800px\"") != std::string::npos);
  CHECK(svg.find("height=\"500px\"") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);

  const auto jpeg = directory / "cost.jpg";
  CHECK_THAT(error_message([&] { plot::save(chart, jpeg); }),
             Catch::Contains(jpeg.string()) && Catch::Contains(".png"));
  const auto missing = directory / "no such directory" / "cost.png";
  CHECK_THAT(error_message([&] { plot::save(chart, missing); }), Catch::Contains(missing.string()));
  // A directory that is not empty cannot be replaced by a file: the final rename fails, no temporary file stays.
  const auto taken = directory / "taken.png";
  std::filesystem::create_directories(taken / "inside");
  CHECK_THAT(error_message([&] { plot::save(chart, taken); }), Catch::Contains(taken.string()));
  CHECK(files_in(directory.path()) == std::vector<std::string>{"cost.svg", "taken.png"});
  // A chart that cannot be drawn leaves no file at all.
  plot::LineChart bad;
  bad.series.push_back({.x = {1}, .y = {}});
  CHECK_THROWS_AS(plot::save(bad, directory / "bad.png"), tapegrad::Error);
  CHECK_FALSE(std::filesystem::exists(directory / "bad.png"));
}

// ---- Training curves (nn/train/curves.h) ----

TEST_CASE("plot: save_training_curves writes loss, cost, accuracy and the changing learning rate as charts", "[plot]") {
  TempDir directory("curves");
  std::vector<tapegrad::train::MetricsRow> rows;
  for (int step = 0; step <= 4; ++step) {
    const double loss = 2.0 / (1 + step);
    rows.push_back({.step = step * 100,
                    .epoch = step * 0.5,
                    .learning_rate = step < 2 ? 0.1 : 0.01,
                    .train = {loss, loss + 0.1, 0.2 * step},
                    .validation = {loss + 0.2, loss + 0.3, 0.18 * step}});
  }
  const auto written = tapegrad::train::save_training_curves(rows, directory.path(), {.title = "toy"});
  CHECK(written == std::vector<std::filesystem::path>{directory / "loss.png", directory / "cost.png",
                                                      directory / "accuracy.png", directory / "learning_rate.png"});
  for (const auto& path : written) CHECK(png_size(path).width == 800);
  CHECK(files_in(directory.path()) ==
        std::vector<std::string>{"accuracy.png", "cost.png", "learning_rate.png", "loss.png"});

  // A constant rate gets no chart, unless asked for; SVG on request.
  for (auto& row : rows) row.learning_rate = 0.1;
  TempDir constant("curves");
  CHECK(tapegrad::train::save_training_curves(rows, constant.path(), {.against_steps = true}).size() == 3);
  CHECK_FALSE(std::filesystem::exists(constant / "learning_rate.png"));
  const auto svg = tapegrad::train::save_training_curves(
      rows, constant.path(), {.always_plot_rate = true, .extension = ".svg"});
  CHECK(svg.size() == 4);
  CHECK(svg.back() == constant / "learning_rate.svg");
  CHECK(tapegrad::testing::read_bytes(svg.front()).find("<svg") != std::string::npos);

  CHECK_THROWS_AS(tapegrad::train::save_training_curves(rows, constant.path(), {.extension = ".jpg"}),
                  tapegrad::Error);
  // A directory that does not exist: WriteError naming the file.
  const auto missing = directory / "missing";
  try {
    tapegrad::train::save_training_curves(rows, missing);
    FAIL("no error for a missing directory");
  } catch (const tapegrad::WriteError& error) {
    CHECK_THAT(error.what(), Catch::Contains((missing / "loss.png").string()));
  }
}

// ---- Histogram ----

namespace {

plot::Histogram probabilities() {
  plot::Histogram histogram;
  histogram.title = "Probability of the true class";
  histogram.x_label = "probability";
  histogram.bins = 4;
  histogram.min = 0.0;
  histogram.max = 1.0;
  // 8 values in the first bin, 4 in the second, 1 (the upper end itself) in the last; the rest is not counted.
  plot::Sample correct{.name = "correct"};
  for (int index = 0; index < 8; ++index) correct.values.push_back(0.1);
  for (int index = 0; index < 4; ++index) correct.values.push_back(0.3);
  correct.values.insert(correct.values.end(), {1.0, 1.5, -0.2, kNaN, kInfinity});
  histogram.samples = {correct, {.name = "wrong", .values = {0.1, 0.6, 0.6}}};
  return histogram;
}

}  // namespace

TEST_CASE("plot: histogram: a real PNG of the histogram's size that cairo decodes", "[plot]") {
  TempDir directory("plot");
  plot::Histogram histogram = probabilities();
  histogram.width = 640;
  histogram.height = 480;
  plot::save(histogram, directory / "histogram.png");
  const PictureSize size = png_size(directory / "histogram.png");
  CHECK(size.width == 640);
  CHECK(size.height == 480);
}

TEST_CASE("plot: histogram: bins count the values in range, the upper end in the last bin", "[plot]") {
  plot::Histogram histogram = probabilities();
  const plot::Bins bins = plot::bin(histogram);
  CHECK(bins.min == 0);
  CHECK(bins.max == 1);
  REQUIRE(bins.heights.size() == 2);
  CHECK(bins.heights[0] == std::vector<double>{8, 4, 0, 1});
  CHECK(bins.heights[1] == std::vector<double>{1, 0, 2, 0});
  CHECK(bins.counted == std::vector<std::size_t>{13, 3});
  const plot::Frame frame = plot::layout(histogram);
  CHECK(frame.y.min == 0);
  CHECK(frame.y.max > 8);
  CHECK(frame.y.max < 10);
  CHECK(frame.x.min < 0);  // a little room either side of the bins
  CHECK(frame.x.max > 1);
  CHECK(frame.y_label == "count");
  check_nice_linear_ticks(frame.x_ticks, frame.x);
  check_nice_linear_ticks(frame.y_ticks, frame.y);
  REQUIRE(frame.legend);
  CHECK(frame.legend->entries[0].mark == plot::LegendMark::swatch);
  CHECK(frame.legend->entries[0].fill_opacity == Approx(0.4));
  // The tall bars are at the left: the legend goes to the right.
  CHECK(frame.legend->corner == plot::LegendPlace::upper_right);

  // Fractions of each sample, to compare samples of different sizes.
  histogram.height_kind = plot::HistogramHeight::fraction;
  histogram.layout = plot::HistogramLayout::side_by_side;
  const plot::Bins fractions = plot::bin(histogram);
  CHECK(fractions.heights[0][0] == Approx(8.0 / 13));
  CHECK(fractions.heights[1][2] == Approx(2.0 / 3));
  const plot::Frame fraction_frame = plot::layout(histogram);
  CHECK(fraction_frame.y_label == "fraction");
  CHECK(fraction_frame.y.max < 1);
  CHECK(fraction_frame.legend->entries[0].fill_opacity == 1);

  // Without a range, the bins span the data.
  plot::Histogram free;
  free.bins = 5;
  free.samples.push_back({.values = {2, 3, 4, 5, 7}});
  const plot::Bins spanning = plot::bin(free);
  CHECK(spanning.min == 2);
  CHECK(spanning.max == 7);
  CHECK(spanning.heights[0] == std::vector<double>{1, 1, 1, 1, 1});
}

TEST_CASE("plot: histogram: empty samples say no data, bad settings throw", "[plot]") {
  plot::Histogram histogram;
  histogram.title = "Nothing";
  histogram.samples.push_back({.name = "nan", .values = {kNaN, kNaN}});
  histogram.samples.push_back({.name = "empty"});
  const plot::Frame frame = plot::layout(histogram);
  CHECK(contains_no_data(frame));
  CHECK(frame.legend->entries[1].text == "empty (no data)");
  CHECK(plot::bin(histogram).counted == std::vector<std::size_t>{0, 0});

  plot::Histogram no_bins;
  no_bins.bins = 0;
  CHECK_THAT(error_message([&] { plot::layout(no_bins); }), Catch::Contains("bin count 0"));
  plot::Histogram reversed;
  reversed.min = 1.0;
  reversed.max = 0.0;
  CHECK_THAT(error_message([&] { plot::bin(reversed); }), Catch::Contains("bin range min"));
  plot::Histogram opaque;
  opaque.fill_opacity = 2;
  CHECK_THAT(error_message([&] { plot::layout(opaque); }), Catch::Contains("fill opacity"));
}

// ---- Bar chart ----

TEST_CASE("plot: bar chart: a real PNG of the chart's size that cairo decodes", "[plot]") {
  TempDir directory("plot");
  plot::BarChart chart{.title = "Validation accuracy", .x_label = "λ", .y_label = "accuracy"};
  chart.bars = {{"0", 0.391}, {"0.01", 0.402}, {"0.1", 0.377}, {"1", 0.255}};
  plot::save(chart, directory / "bars.png");
  const PictureSize size = png_size(directory / "bars.png");
  CHECK(size.width == 800);
  CHECK(size.height == 500);
}

TEST_CASE("plot: bar chart: one category per slot, values at the bars' ends, NaN says n/a", "[plot]") {
  plot::BarChart chart;
  chart.title = "L2 norm of W";
  chart.x_label = "lambda";
  chart.bars = {{"0", 4.0}, {"0.01", 2.0}, {"0.1", kNaN}, {"1", -1.0}};
  const plot::Frame frame = plot::layout(chart);
  CHECK(frame.y.min < -1);
  CHECK(frame.y.max > 4);
  CHECK(frame.x.min == 0);
  CHECK(frame.x.max == 4);
  CHECK(tick_values(frame.x_ticks) == std::vector<double>{0.5, 1.5, 2.5, 3.5});
  CHECK(tick_labels(frame.x_ticks) == std::vector<std::string>{"0", "0.01", "0.1", "1"});
  CHECK_FALSE(frame.x_labels_upward);
  check_nice_linear_ticks(frame.y_ticks, frame.y);
  std::vector<std::string> notes;
  for (const auto& note : frame.annotations) notes.push_back(note.text);
  CHECK(notes == std::vector<std::string>{"4", "2", "n/a", "\u22121"});
  // A positive value stands above its bar's end, a negative one hangs below it.
  CHECK(frame.annotations[0].above);
  CHECK(frame.annotations[0].anchor.y < frame.y_to_pixel(4));
  CHECK_FALSE(frame.annotations[3].above);
  CHECK(frame.annotations[3].anchor.y > frame.y_to_pixel(-1));

  chart.show_values = false;
  CHECK(plot::layout(chart).annotations.size() == 1);  // only the n/a
  CHECK(contains_no_data(plot::layout(plot::BarChart{})));
}

TEST_CASE("plot: bar chart: long category names are turned upward instead of overlapping", "[plot]") {
  plot::BarChart chart;
  for (int index = 0; index < 12; ++index)
    chart.bars.push_back({"configuration " + std::to_string(index), index + 1.0});
  const plot::Frame frame = plot::layout(chart);
  CHECK(frame.x_labels_upward);
  CHECK(frame.x_ticks.size() == 12);
  CHECK(frame.x_ticks[11].label == "configuration 11");
  // The band under the plot is as tall as the longest name.
  CHECK(frame.height - frame.plot_area.bottom > 80);
  TempDir directory("plot");
  plot::save(chart, directory / "upward.png");
  CHECK(png_size(directory / "upward.png").height == 500);
}

// ---- Image grid ----

namespace {

// A picture whose values run from `low` to `high`.
plot::GridImage picture(int channels, int height, int width, float low, float high, const std::string& caption) {
  plot::GridImage image{.channels = channels, .height = height, .width = width, .caption = caption};
  const int count = channels * height * width;
  for (int index = 0; index < count; ++index) image.planes.push_back(low + (high - low) * index / (count - 1));
  return image;
}

}  // namespace

TEST_CASE("plot: image grid: a real PNG of the layout's size, each picture stretched to its own range", "[plot]") {
  TempDir directory("plot");
  plot::ImageGrid grid;
  grid.title = "Class templates";
  grid.zoom = 3;
  grid.images.push_back(picture(3, 32, 32, -0.03f, 0.05f, "airplane"));
  grid.images.push_back(picture(1, 2, 1, 100.0f, 100.5f, "two"));
  plot::save(grid, directory / "templates.png");
  const plot::GridLayout layout = plot::layout(grid);
  const PictureSize size = png_size(directory / "templates.png");
  CHECK(size.width == layout.width);
  CHECK(size.height == layout.height);
  // The grey picture of two values: its smaller value black, its larger white, whatever their size.
  cairo_surface_t* decoded = cairo_image_surface_create_from_png((directory / "templates.png").c_str());
  REQUIRE(cairo_surface_status(decoded) == CAIRO_STATUS_SUCCESS);
  const unsigned char* data = cairo_image_surface_get_data(decoded);
  const int stride = cairo_image_surface_get_stride(decoded);
  auto pixel = [&](double x, double y) {
    return *reinterpret_cast<const std::uint32_t*>(data + static_cast<int>(y) * stride + static_cast<int>(x) * 4) &
           0xffffff;
  };
  const plot::Point origin = layout.image_origins[1];
  CHECK(pixel(origin.x + 1, origin.y + 1) == 0x000000);
  CHECK(pixel(origin.x + 1, origin.y + 4) == 0xffffff);
  cairo_surface_destroy(decoded);
}

TEST_CASE("plot: image grid: rows of columns, whole-number zoom, captions under the pictures", "[plot]") {
  plot::ImageGrid grid;
  grid.columns = 5;
  for (int index = 0; index < 10; ++index)
    grid.images.push_back(picture(1, 28, 28, 0.0f, 1.0f, std::to_string(index)));
  grid.images[7].planes.assign(28 * 28, 0.25f);  // constant: mid-grey, not an error
  grid.images[8].planes[0] = std::numeric_limits<float>::quiet_NaN();
  const plot::GridLayout layout = plot::layout(grid);
  REQUIRE(layout.image_origins.size() == 10);
  CHECK(layout.zoom == 3);  // about 96 pixels for 28
  CHECK(layout.image_origins[5].x == layout.image_origins[0].x);
  CHECK(layout.image_origins[5].y > layout.image_origins[0].y + 28 * layout.zoom);
  CHECK(layout.image_origins[1].x > layout.image_origins[0].x + 28 * layout.zoom);
  CHECK(layout.image_origins[1].y == layout.image_origins[0].y);
  CHECK(layout.captions[4] == "4");
  CHECK(layout.caption_anchors[4].y >= layout.image_origins[4].y + 28 * layout.zoom);
  CHECK(layout.caption_anchors[4].x == Approx(layout.image_origins[4].x + 14 * layout.zoom).margin(1));
  CHECK(layout.width >= layout.image_origins[4].x + 28 * layout.zoom);
  CHECK(layout.height >= layout.caption_anchors[9].y + 10);
  TempDir directory("plot");
  plot::save(grid, directory / "digits.png");
  CHECK(png_size(directory / "digits.png").width == layout.width);
  CHECK_NOTHROW(plot::save(plot::ImageGrid{}, directory / "none.png"));
}

TEST_CASE("plot: image grid: pictures of the wrong shape throw Error naming the picture", "[plot]") {
  plot::ImageGrid wrong;
  wrong.images.push_back(
      {.channels = 3, .height = 32, .width = 32, .planes = std::vector<float>(32 * 32), .caption = "cat"});
  CHECK_THAT(error_message([&] { plot::layout(wrong); }),
             Catch::Contains("cat") && Catch::Contains("1024 values") && Catch::Contains("3072"));
  plot::ImageGrid two_channels;
  two_channels.images.push_back({.channels = 2, .height = 1, .width = 1, .planes = {0, 1}});
  CHECK_THAT(error_message([&] { plot::layout(two_channels); }), Catch::Contains("2 channels"));
  plot::ImageGrid columns;
  columns.columns = -1;
  CHECK_THAT(error_message([&] { plot::layout(columns); }), Catch::Contains("column count"));
  plot::ImageGrid zoom;
  zoom.zoom = 100;
  CHECK_THAT(error_message([&] { plot::layout(zoom); }), Catch::Contains("zoom"));
}
