// The plots the apps write: each chart is saved as PNG, read back with libpng and checked where its pixels
// should be, for axis ranges fixed by the test.
#include <png.h>
#include <sys/resource.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "apps/common/plot.h"
#include <tapegrad/core/error.h>
#include "tests/support/test_data.h"

namespace plot = tapegrad::plot;

namespace Catch {
template <>
struct StringMaker<tapegrad::plot::Color> {
  static std::string convert(const tapegrad::plot::Color& color) {
    return "rgb(" + std::to_string(color.red) + ", " + std::to_string(color.green) + ", " +
           std::to_string(color.blue) + ")";
  }
};
}  // namespace Catch

using plot::Color;
using tapegrad::testing::TempDir;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct DecodedPng {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;

  Color at(int x, int y) const {
    const std::size_t offset = (static_cast<std::size_t>(y) * width + x) * 3;
    return {rgb[offset], rgb[offset + 1], rgb[offset + 2]};
  }
};

// Decodes with libpng's own reader (which checks every chunk's CRC), independent of how the file was written.
DecodedPng read_png(const std::filesystem::path& path) {
  const std::string bytes = tapegrad::testing::read_bytes(path);
  REQUIRE(bytes.size() > 8);
  REQUIRE(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0);
  image.format = PNG_FORMAT_RGB;
  DecodedPng decoded;
  decoded.width = static_cast<int>(image.width);
  decoded.height = static_cast<int>(image.height);
  decoded.rgb.resize(PNG_IMAGE_SIZE(image));
  const int finished = png_image_finish_read(&image, nullptr, decoded.rgb.data(), 0, nullptr);
  INFO(image.message);
  REQUIRE(finished != 0);
  return decoded;
}

DecodedPng save_and_read(const plot::Canvas& canvas, const std::filesystem::path& path) {
  canvas.write_png(path);
  return read_png(path);
}

int count_color(const DecodedPng& png, const plot::Rectangle& area, Color color) {
  int count = 0;
  for (int y = std::max(0, static_cast<int>(area.top)); y < std::min<double>(png.height, area.bottom); ++y) {
    for (int x = std::max(0, static_cast<int>(area.left)); x < std::min<double>(png.width, area.right); ++x) {
      count += png.at(x, y) == color;
    }
  }
  return count;
}

bool near(Color actual, Color expected, int tolerance) {
  return std::abs(actual.red - expected.red) <= tolerance &&
         std::abs(actual.green - expected.green) <= tolerance &&
         std::abs(actual.blue - expected.blue) <= tolerance;
}

Color blend(Color under, Color over, double opacity) {
  auto mix = [opacity](int a, int b) { return static_cast<std::uint8_t>(std::lround(a + (b - a) * opacity)); };
  return {mix(under.red, over.red), mix(under.green, over.green), mix(under.blue, over.blue)};
}

bool is_grey_ink(Color color) { return color.red == color.green && color.green == color.blue && color.red < 160; }

int count_grey_ink(const DecodedPng& png, const plot::Rectangle& area) {
  int count = 0;
  for (int y = static_cast<int>(area.top); y < area.bottom; ++y) {
    for (int x = static_cast<int>(area.left); x < area.right; ++x) count += is_grey_ink(png.at(x, y));
  }
  return count;
}

// The names in `directory`, sorted.
std::vector<std::string> files_in(const std::filesystem::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const tapegrad::Error& error) {
    return error.what();
  }
  FAIL("expected tapegrad::Error");
  return "";
}

}  // namespace

// ---- Canvas and PNG file ----

TEST_CASE("canvas pixels survive a PNG round trip exactly", "[plot]") {
  TempDir directory("plot");
  plot::Canvas canvas(37, 23, plot::rgb(0x102030));
  canvas.set_pixel(0, 0, plot::rgb(0xff0000));
  canvas.set_pixel(36, 22, plot::rgb(0x00ff00));
  canvas.set_pixel(5, 17, plot::rgb(0x0000fe));
  const DecodedPng png = save_and_read(canvas, directory / "round.png");
  REQUIRE(png.width == 37);
  REQUIRE(png.height == 23);
  CHECK(std::equal(png.rgb.begin(), png.rgb.end(), canvas.bytes().begin(), canvas.bytes().end()));
  CHECK(png.at(0, 0) == plot::rgb(0xff0000));
  CHECK(png.at(36, 22) == plot::rgb(0x00ff00));
  CHECK(png.at(5, 17) == plot::rgb(0x0000fe));
  CHECK(png.at(1, 0) == plot::rgb(0x102030));
  CHECK(files_in(directory.path()) == std::vector<std::string>{"round.png"});  // no temporary file stays
}

TEST_CASE("writing over an existing PNG replaces it whole", "[plot]") {
  TempDir directory("plot");
  const auto path = directory / "figure.png";
  plot::Canvas(50, 40, plot::rgb(0xaaaaaa)).write_png(path);
  plot::Canvas(20, 10, plot::rgb(0x123456)).write_png(path);
  const DecodedPng png = read_png(path);
  CHECK(png.width == 20);
  CHECK(png.height == 10);
  CHECK(png.at(19, 9) == plot::rgb(0x123456));
}

TEST_CASE("an unwritable PNG path throws Error naming the path", "[plot]") {
  TempDir directory("plot");
  const auto path = directory / "no such directory" / "cost.png";
  const std::string message = error_message([&] { plot::Canvas(10, 10).write_png(path); });
  CHECK_THAT(message, Catch::Contains(path.string()));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a PNG that cannot be renamed into place leaves no temporary file", "[plot]") {
  TempDir directory("plot");
  // A directory that is not empty cannot be replaced by a file, so the final rename fails after the write.
  const auto path = directory / "taken.png";
  std::filesystem::create_directories(path / "inside");
  const std::string message = error_message([&] { plot::Canvas(10, 10).write_png(path); });
  CHECK_THAT(message, Catch::Contains(path.string()));
  CHECK(files_in(directory.path()) == std::vector<std::string>{"taken.png"});
  CHECK(std::filesystem::is_directory(path));
}

TEST_CASE("a PNG whose write fails (disk full) leaves the old figure whole and no temporary file", "[plot]") {
  TempDir directory("plot");
  const auto path = directory / "cost.png";
  plot::Canvas(30, 20, plot::rgb(0x445566)).write_png(path);
  // A file-size limit stands in for a full disk: the new, larger figure cannot be written.
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit previous{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &previous) == 0);
  rlimit small = previous;
  small.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  plot::Canvas noisy(400, 300);
  for (int y = 0; y < 300; ++y)
    for (int x = 0; x < 400; ++x) noisy.set_pixel(x, y, plot::rgb(static_cast<std::uint32_t>(x * 7919 + y * 104729) & 0xffffff));
  const std::string message = error_message([&] { noisy.write_png(path); });
  ::setrlimit(RLIMIT_FSIZE, &previous);
  std::signal(SIGXFSZ, previous_handler);
  CHECK_THAT(message, Catch::Contains(path.string()) && Catch::Contains("File too large"));
  const DecodedPng old = read_png(path);
  CHECK(old.width == 30);
  CHECK(old.at(0, 0) == plot::rgb(0x445566));
  CHECK(files_in(directory.path()) == std::vector<std::string>{"cost.png"});
}

TEST_CASE("canvas sizes and pixel access are checked", "[plot]") {
  CHECK_THROWS_AS(plot::Canvas(0, 10), tapegrad::Error);
  CHECK_THROWS_AS(plot::Canvas(10, -1), tapegrad::Error);
  CHECK_THROWS_AS(plot::Canvas(20000, 10), tapegrad::Error);
  plot::Canvas canvas(4, 3);
  CHECK_THROWS_AS(canvas.pixel(4, 0), tapegrad::Error);
  CHECK_THROWS_AS(canvas.set_pixel(0, 3, plot::black), tapegrad::Error);
  canvas.blend_pixel(-1, 7, plot::black, 1.0);  // drawing outside is clipped, not an error
  CHECK(canvas.pixel(0, 0) == plot::white);
}

TEST_CASE("rectangles cover partly covered pixels in proportion", "[plot]") {
  plot::Canvas canvas(10, 10);
  const Color red = plot::rgb(0xff0000);
  canvas.fill_rectangle({2, 2, 5.5, 4}, red);
  CHECK(canvas.pixel(2, 2) == red);
  CHECK(canvas.pixel(4, 3) == red);
  CHECK(canvas.pixel(5, 3) == blend(plot::white, red, 0.5));
  CHECK(canvas.pixel(6, 3) == plot::white);
  CHECK(canvas.pixel(3, 4) == plot::white);
  canvas.fill_rectangle({0, 8, 10, 10}, red, 0.25);
  CHECK(canvas.pixel(7, 9) == blend(plot::white, red, 0.25));
}

TEST_CASE("lines and circles cover the pixels near them, blended at their edges", "[plot]") {
  plot::Canvas canvas(60, 40);
  const Color blue = plot::rgb(0x1f77b4);
  // One pixel wide along the centres of row 20: that row exactly, nothing above or below.
  canvas.draw_line({10, 20.5}, {50, 20.5}, blue, 1.0);
  for (int x = 11; x < 50; ++x) {
    CHECK(canvas.pixel(x, 20) == blue);
    CHECK(canvas.pixel(x, 19) == plot::white);
    CHECK(canvas.pixel(x, 21) == plot::white);
  }
  CHECK(canvas.pixel(55, 20) == plot::white);
  // Three pixels wide along the boundary of rows 29 and 30: both rows, and half of the rows beyond them.
  const plot::Point points[] = {{10, 30}, {30, 30}, {kNaN, kNaN}, {40, 30}, {50, 30}};
  canvas.draw_polyline(points, blue, 3.0);
  CHECK(canvas.pixel(20, 29) == blue);
  CHECK(canvas.pixel(20, 30) == blue);
  CHECK(canvas.pixel(20, 28) == blend(plot::white, blue, 0.5));
  CHECK(canvas.pixel(20, 31) == blend(plot::white, blue, 0.5));
  CHECK(canvas.pixel(20, 27) == plot::white);
  CHECK(canvas.pixel(35, 30) == plot::white);  // the NaN point breaks the line
  CHECK(canvas.pixel(45, 30) == blue);
  canvas.fill_circle({5.5, 5.5}, 3, blue);
  CHECK(canvas.pixel(5, 5) == blue);
  CHECK(canvas.pixel(7, 5) == blue);
  CHECK(canvas.pixel(5, 0) == plot::white);
}

TEST_CASE("text lands where its alignment says", "[plot]") {
  plot::Canvas canvas(300, 120);
  const double cap = 12;
  const double width = plot::text_width("Validation 0.25", cap);
  REQUIRE(width > 5 * cap);
  REQUIRE(width < 15 * cap);
  canvas.draw_text(
      "Validation 0.25", {150, 60},
      {.cap_height = cap, .horizontal = plot::HorizontalAlign::right, .vertical = plot::VerticalAlign::baseline});
  int left = canvas.width(), right = -1, top = canvas.height(), bottom = -1;
  for (int y = 0; y < canvas.height(); ++y) {
    for (int x = 0; x < canvas.width(); ++x) {
      if (canvas.pixel(x, y) == plot::white) continue;
      left = std::min(left, x);
      right = std::max(right, x);
      top = std::min(top, y);
      bottom = std::max(bottom, y);
    }
  }
  // Right-aligned on x = 150, capitals standing on the baseline y = 60, no descenders in this text.
  CHECK(right >= 146);
  CHECK(right <= 152);
  CHECK(left >= 150 - width - 3);
  CHECK(left <= 150 - width + 3);
  CHECK(top >= 60 - cap - 3);
  CHECK(top <= 60 - cap + 2);
  CHECK(bottom >= 58);
  CHECK(bottom <= 62);
}

TEST_CASE("upward text runs from bottom to top", "[plot]") {
  plot::Canvas canvas(60, 300);
  const double width = plot::text_width("validation accuracy", 10);
  canvas.draw_text("validation accuracy", {30, 150},
                   {.cap_height = 10,
                    .horizontal = plot::HorizontalAlign::center,
                    .vertical = plot::VerticalAlign::middle,
                    .direction = plot::TextDirection::upward});
  int top = canvas.height(), bottom = -1, left = canvas.width(), right = -1;
  for (int y = 0; y < canvas.height(); ++y) {
    for (int x = 0; x < canvas.width(); ++x) {
      if (canvas.pixel(x, y) == plot::white) continue;
      top = std::min(top, y);
      bottom = std::max(bottom, y);
      left = std::min(left, x);
      right = std::max(right, x);
    }
  }
  CHECK(bottom - top >= width - 4);
  CHECK(bottom - top <= width + 4);
  CHECK(std::abs((top + bottom) / 2.0 - 150) <= 3);
  CHECK(right - left <= 16);  // one line of 10-pixel capitals with descenders, turned on its side
}

// ---- Line chart ----

TEST_CASE("line chart: size, a valid PNG and every series' colour in the plot area", "[plot]") {
  TempDir directory("plot");
  plot::LineChart chart;
  chart.title = "Cost";
  chart.x_axis.label = "epoch";
  chart.y_axis.label = "cost";
  plot::Series training{.name = "training"};
  plot::Series validation{.name = "validation"};
  for (int epoch = 0; epoch <= 20; ++epoch) {
    training.x.push_back(epoch);
    training.y.push_back(2.0 * std::exp(-epoch / 5.0) + 0.3);
    validation.x.push_back(epoch);
    validation.y.push_back(2.0 * std::exp(-epoch / 6.0) + 0.5);
  }
  chart.series = {training, validation};
  plot::save(chart, directory / "cost.png");
  const DecodedPng png = read_png(directory / "cost.png");
  CHECK(png.width == 800);
  CHECK(png.height == 500);
  CHECK(std::equal(png.rgb.begin(), png.rgb.end(), plot::render(chart).bytes().begin()));

  const plot::Frame frame = plot::layout(chart);
  const plot::Rectangle& area = frame.plot_area;
  REQUIRE(area.left > 0);
  REQUIRE(area.right < png.width);
  REQUIRE(area.top > 0);
  REQUIRE(area.bottom < png.height);
  CHECK(area.width() > 0.7 * png.width);
  CHECK(area.height() > 0.6 * png.height);
  // The data range lies inside the axis range, with a margin.
  CHECK(frame.x.min < 0);
  CHECK(frame.x.max > 20);
  CHECK(frame.y.min < 0.3 + 2 * std::exp(-4.0));
  CHECK(frame.y.max > 2.5);

  REQUIRE(plot::series_color(0) != plot::series_color(1));
  CHECK(count_color(png, area, plot::series_color(0)) > 300);
  CHECK(count_color(png, area, plot::series_color(1)) > 300);
  // Nothing of a series is drawn outside the plot area.
  const plot::Rectangle above{0, 0, static_cast<double>(png.width), area.top - 1};
  CHECK(count_color(png, above, plot::series_color(0)) == 0);
  // Text (title, tick labels, axis labels) is there, outside the plot area.
  CHECK(count_grey_ink(png, {0, 0, area.left - 1, static_cast<double>(png.height)}) > 100);
  CHECK(count_grey_ink(png, {area.left, area.bottom + 2, area.right, static_cast<double>(png.height)}) > 100);
}

TEST_CASE("line chart: a segment lands on the pixels of its axis range", "[plot]") {
  TempDir directory("plot");
  const Color colour = plot::rgb(0xd62728);
  plot::LineChart chart;
  chart.x_axis = {.label = "x", .min = 0.0, .max = 10.0};
  chart.y_axis = {.label = "y", .min = 0.0, .max = 10.0};
  chart.legend = plot::LegendPlace::none;
  chart.series.push_back({.name = "segment", .x = {2, 8}, .y = {2, 6}, .color = colour});
  const DecodedPng png = save_and_read(plot::render(chart), directory / "segment.png");
  const plot::Frame frame = plot::layout(chart);
  REQUIRE(frame.x.min == 0.0);
  REQUIRE(frame.x.max == 10.0);
  REQUIRE(frame.y.min == 0.0);
  REQUIRE(frame.y.max == 10.0);
  const plot::Rectangle& area = frame.plot_area;
  // Where the ends must be, from the plot area alone: x = 0 on the left edge, y = 0 on the bottom edge.
  const double x0 = area.left + 0.2 * area.width();
  const double y0 = area.bottom - 0.2 * area.height();
  const double x1 = area.left + 0.8 * area.width();
  const double y1 = area.bottom - 0.6 * area.height();
  CHECK(frame.x_to_pixel(2) == Approx(x0));
  CHECK(frame.y_to_pixel(6) == Approx(y1));
  int checked = 0;
  for (int column = static_cast<int>(x0) + 1; column < static_cast<int>(x1) - 1; ++column) {
    const double y = y0 + (column + 0.5 - x0) / (x1 - x0) * (y1 - y0);
    const int row = static_cast<int>(std::floor(y));
    INFO("column " << column << " row " << row);
    REQUIRE(png.at(column, row) == colour);
    REQUIRE(png.at(column, row - 6) != colour);
    REQUIRE(png.at(column, row + 6) != colour);
    ++checked;
  }
  CHECK(checked > 300);
  // Round ends reach a line width's half beyond the end points, no further.
  CHECK(png.at(static_cast<int>(x0) - 4, static_cast<int>(y0)) != colour);
  CHECK(png.at(static_cast<int>(x1) + 4, static_cast<int>(y1)) != colour);
  CHECK(count_color(png, {0, 0, static_cast<double>(png.width), static_cast<double>(png.height)}, colour) <
        4 * (x1 - x0));
}

TEST_CASE("line chart: markers alone draw dots, not lines", "[plot]") {
  const Color colour = plot::rgb(0x2ca02c);
  plot::LineChart chart;
  chart.x_axis = {.label = "log10 lambda", .min = -5.0, .max = 0.0};
  chart.y_axis = {.label = "accuracy", .min = 0.0, .max = 1.0};
  chart.series.push_back(
      {.name = "trials", .x = {-4, -1}, .y = {0.2, 0.8}, .style = plot::SeriesStyle::markers, .color = colour});
  chart.legend = plot::LegendPlace::none;
  const plot::Canvas canvas = plot::render(chart);
  const plot::Frame frame = plot::layout(chart);
  for (auto [x, y] : {std::pair{-4.0, 0.2}, std::pair{-1.0, 0.8}}) {
    const int column = static_cast<int>(frame.x_to_pixel(x));
    const int row = static_cast<int>(frame.y_to_pixel(y));
    CHECK(canvas.pixel(column, row) == colour);
    CHECK(canvas.pixel(column + 1, row - 1) == colour);  // a disk, not a point
    CHECK(canvas.pixel(column + 8, row) != colour);
  }
  const int middle_column = static_cast<int>(frame.x_to_pixel(-2.5));
  const int middle_row = static_cast<int>(frame.y_to_pixel(0.5));
  CHECK(canvas.pixel(middle_column, middle_row) != colour);
}

TEST_CASE("line chart: a log10 x axis spaces decades evenly and skips points at or below zero", "[plot]") {
  const Color colour = plot::rgb(0x9467bd);
  plot::LineChart chart;
  chart.x_axis = {.label = "learning rate", .scale = plot::Scale::log10, .min = 1e-5, .max = 1.0};
  chart.y_axis = {.label = "loss", .min = 0.0, .max = 4.0};
  chart.series.push_back({.name = "loss",
                          .x = {-1.0, 0.0, 1e-4, 1e-2, 1},
                          .y = {3, 3, 1, 2, 3},
                          .style = plot::SeriesStyle::markers,
                          .color = colour});
  chart.legend = plot::LegendPlace::none;
  const plot::Canvas canvas = plot::render(chart);
  const plot::Frame frame = plot::layout(chart);
  const plot::Rectangle& area = frame.plot_area;
  for (auto [x, y, decade] : {std::tuple{1e-4, 1.0, 1.0}, std::tuple{1e-2, 2.0, 3.0}}) {
    // Five decades across the width: 1e-4 is one fifth in, 1e-2 three fifths.
    const double column = area.left + decade / 5.0 * area.width();
    CHECK(frame.x_to_pixel(x) == Approx(column));
    const double row = area.bottom - y / 4.0 * area.height();
    CHECK(canvas.pixel(static_cast<int>(column), static_cast<int>(row)) == colour);
  }
  // The marker at x = 1 sits on the right edge, half inside the plot area.
  CHECK(canvas.pixel(static_cast<int>(area.right) - 2, static_cast<int>(area.bottom - 0.75 * area.height())) ==
        colour);
  // x = 0 and x = -1 have no place on a log axis; nothing is drawn for them at the left.
  CHECK(std::isnan(frame.x_to_pixel(0.0)));
  int left_edge_marks = 0;
  for (int y = static_cast<int>(area.top); y < area.bottom; ++y) {
    for (int x = static_cast<int>(area.left); x < area.left + 10; ++x)
      left_edge_marks += canvas.pixel(x, y) == colour;
  }
  CHECK(left_edge_marks == 0);
  CHECK(plot::layout(chart).x.scale == plot::Scale::log10);
}

TEST_CASE("line chart: NaN, infinite and missing data never crash and say so", "[plot]") {
  TempDir directory("plot");
  SECTION("a gap at NaN") {
    const Color colour = plot::rgb(0x1f77b4);
    plot::LineChart chart;
    chart.x_axis = {.min = 0.0, .max = 4.0};
    chart.y_axis = {.min = 0.0, .max = 2.0};
    chart.series.push_back({.name = "gappy", .x = {0, 1, 2, 3, 4}, .y = {1, 1, kNaN, 1, 1}, .color = colour});
    chart.legend = plot::LegendPlace::none;
    const DecodedPng png = save_and_read(plot::render(chart), directory / "gap.png");
    const plot::Frame frame = plot::layout(chart);
    const int row = static_cast<int>(frame.y_to_pixel(1));
    CHECK(png.at(static_cast<int>(frame.x_to_pixel(0.5)), row) == colour);
    CHECK(png.at(static_cast<int>(frame.x_to_pixel(3.5)), row) == colour);
    CHECK(png.at(static_cast<int>(frame.x_to_pixel(2)), row) != colour);
  }
  SECTION("nothing plottable at all") {
    plot::LineChart chart;
    chart.title = "Empty";
    chart.series.push_back({.name = "nan", .x = {1, 2, 3}, .y = {kNaN, kNaN, kNaN}});
    chart.series.push_back({.name = "infinite", .x = {kInfinity, 1}, .y = {1, -kInfinity}});
    chart.series.push_back({.name = "empty"});
    const DecodedPng png = save_and_read(plot::render(chart), directory / "empty.png");
    CHECK(png.width == 800);
    const plot::Frame frame = plot::layout(chart);
    const plot::Rectangle& area = frame.plot_area;
    const double middle_x = (area.left + area.right) / 2;
    const double middle_y = (area.top + area.bottom) / 2;
    // "no data" is written in the middle of the plot area.
    CHECK(count_grey_ink(png, {middle_x - 60, middle_y - 15, middle_x + 60, middle_y + 15}) > 20);
    for (std::size_t index = 0; index < 3; ++index) {
      CHECK(count_color(png, area, plot::series_color(index)) > 0);  // legend samples, nothing else
      CHECK(count_color(png, area, plot::series_color(index)) < 200);
    }
  }
  SECTION("no series") {
    plot::LineChart chart;
    const DecodedPng png = save_and_read(plot::render(chart), directory / "none.png");
    const plot::Rectangle& area = plot::layout(chart).plot_area;
    const double middle_x = (area.left + area.right) / 2;
    const double middle_y = (area.top + area.bottom) / 2;
    CHECK(count_grey_ink(png, {middle_x - 60, middle_y - 15, middle_x + 60, middle_y + 15}) > 20);
  }
  SECTION("values too large to subtract") {
    plot::LineChart chart;
    chart.series.push_back({.name = "huge", .x = {0, 1, 2}, .y = {1, 1e308, -1e308}});
    CHECK_NOTHROW(plot::render(chart));
  }
}

TEST_CASE("line chart: a 10,000-point curve is drawn without gaps", "[plot]") {
  const Color colour = plot::rgb(0x17becf);
  plot::LineChart chart;
  plot::Series loss{.name = "loss", .color = colour};
  for (int step = 0; step < 10000; ++step) {
    loss.x.push_back(step);
    loss.y.push_back(std::exp(-step / 3000.0) + 0.2 * std::sin(step / 7.0));
  }
  chart.series = {loss};
  chart.legend = plot::LegendPlace::none;
  const plot::Canvas canvas = plot::render(chart);
  const plot::Frame frame = plot::layout(chart);
  const int first = static_cast<int>(frame.x_to_pixel(0)) + 1;
  const int last = static_cast<int>(frame.x_to_pixel(9999)) - 1;
  int columns_without_curve = 0;
  for (int x = first; x <= last; ++x) {
    bool found = false;
    for (int y = static_cast<int>(frame.plot_area.top); y < frame.plot_area.bottom && !found; ++y) {
      found = canvas.pixel(x, y) == colour;
    }
    columns_without_curve += !found;
  }
  CHECK(last - first > 600);
  CHECK(columns_without_curve == 0);
}

TEST_CASE("line chart: the legend shows each series where it hides no data", "[plot]") {
  plot::LineChart chart;
  chart.x_axis = {.min = 0.0, .max = 10.0};
  chart.y_axis = {.min = 0.0, .max = 10.0};
  // Falling curves: the upper right corner is free.
  chart.series.push_back({.name = "training", .x = {0, 5, 10}, .y = {9, 3, 1}});
  chart.series.push_back({.name = "validation", .x = {0, 5, 10}, .y = {9.5, 4, 2}});
  const plot::Rectangle area = plot::layout(chart).plot_area;
  const plot::Rectangle upper_right{area.left + 0.6 * area.width(), area.top, area.right,
                                    area.top + 0.25 * area.height()};
  const plot::Rectangle upper_left{area.left, area.top, area.left + 0.4 * area.width(),
                                   area.top + 0.25 * area.height()};
  TempDir directory("plot");
  const DecodedPng with_legend = save_and_read(plot::render(chart), directory / "legend.png");
  chart.legend = plot::LegendPlace::none;
  const DecodedPng without_legend = save_and_read(plot::render(chart), directory / "no_legend.png");
  for (std::size_t index = 0; index < 2; ++index) {
    CHECK(count_color(with_legend, upper_right, plot::series_color(index)) > 20);
    CHECK(count_color(without_legend, upper_right, plot::series_color(index)) == 0);
  }
  CHECK(count_grey_ink(with_legend, upper_right) > 30);
  CHECK(count_grey_ink(without_legend, upper_right) == 0);
  // Rising curves: the legend moves to a free corner instead of covering them.
  chart.legend = plot::LegendPlace::best;
  for (auto& series : chart.series) std::reverse(series.y.begin(), series.y.end());
  const DecodedPng moved = save_and_read(plot::render(chart), directory / "moved.png");
  CHECK(count_grey_ink(moved, upper_left) > 30);
  CHECK(count_grey_ink(moved, upper_right) == 0);
}

TEST_CASE("line chart: descriptions that cannot be drawn throw Error saying why", "[plot]") {
  plot::LineChart chart;
  chart.series.push_back({.name = "validation", .x = {1, 2, 3}, .y = {1, 2}});
  const std::string message = error_message([&] { plot::render(chart); });
  CHECK_THAT(message,
             Catch::Contains("validation") && Catch::Contains("3 x values") && Catch::Contains("2 y values"));

  plot::LineChart reversed;
  reversed.x_axis = {.min = 5.0, .max = 1.0};
  CHECK_THAT(error_message([&] { plot::render(reversed); }), Catch::Contains("min") && Catch::Contains("max"));
  plot::LineChart log_from_zero;
  log_from_zero.x_axis = {.scale = plot::Scale::log10, .min = 0.0};
  CHECK_THROWS_AS(plot::render(log_from_zero), tapegrad::Error);
  plot::LineChart tiny;
  tiny.width = 100;
  CHECK_THAT(error_message([&] { plot::render(tiny); }), Catch::Contains("100 x 500"));
  plot::LineChart thick;
  thick.line_width = 0;
  CHECK_THROWS_AS(plot::layout(thick), tapegrad::Error);
}

// ---- Histogram ----

TEST_CASE("histogram: overlaid bars reach their counts, translucent with an opaque outline", "[plot]") {
  TempDir directory("plot");
  const Color colour = plot::rgb(0xff7f0e);
  plot::Histogram histogram;
  histogram.x_label = "probability of the true class";
  histogram.bins = 4;
  histogram.min = 0.0;
  histogram.max = 1.0;
  // 8 values in the first bin, 4 in the second, 1 (the upper end itself) in the last; the rest is not counted.
  plot::Sample sample{.name = "correct", .color = colour};
  for (int index = 0; index < 8; ++index) sample.values.push_back(0.1);
  for (int index = 0; index < 4; ++index) sample.values.push_back(0.3);
  sample.values.insert(sample.values.end(), {1.0, 1.5, -0.2, kNaN, kInfinity});
  histogram.samples = {sample};
  histogram.legend = plot::LegendPlace::none;
  const DecodedPng png = save_and_read(plot::render(histogram), directory / "histogram.png");
  CHECK(png.width == 800);
  CHECK(png.height == 500);
  const plot::Frame frame = plot::layout(histogram);
  CHECK(frame.y.min == 0.0);
  CHECK(frame.y.max > 8);
  CHECK(frame.y.max < 10);

  auto bar_top = [&](double center) {
    // The outline's row at the bar's top: the first row from the top of the plot with the opaque colour.
    const int column = static_cast<int>(frame.x_to_pixel(center));
    for (int row = static_cast<int>(frame.plot_area.top); row < frame.plot_area.bottom; ++row) {
      if (png.at(column, row) == colour) return row;
    }
    return -1;
  };
  CHECK(std::abs(bar_top(0.125) - frame.y_to_pixel(8)) <= 1.5);
  CHECK(std::abs(bar_top(0.375) - frame.y_to_pixel(4)) <= 1.5);
  CHECK(std::abs(bar_top(0.875) - frame.y_to_pixel(1)) <= 1.5);
  CHECK(bar_top(0.625) >= frame.y_to_pixel(0) - 2);  // an empty bin: only the outline along the bottom
  // Inside a bar the fill is the colour at 40 percent over what is behind it: white, or a grid line, as seen in
  // the same row over the empty third bin. 0.16 keeps off the vertical grid lines.
  const int column = static_cast<int>(frame.x_to_pixel(0.16));
  const int empty_column = static_cast<int>(frame.x_to_pixel(0.56));
  int rows = 0;
  for (int row = static_cast<int>(frame.y_to_pixel(7)); row < frame.y_to_pixel(1); ++row, ++rows) {
    INFO("row " << row);
    REQUIRE(near(png.at(column, row), blend(png.at(empty_column, row), colour, 0.4), 1));
  }
  CHECK(rows > 100);
  CHECK(png.at(column, static_cast<int>(frame.y_to_pixel(8.3))) == plot::white);
}

TEST_CASE("histogram: side by side bars split each bin between the samples", "[plot]") {
  const Color first = plot::rgb(0x1f77b4);
  const Color second = plot::rgb(0xd62728);
  plot::Histogram histogram;
  histogram.bins = 2;
  histogram.min = 0.0;
  histogram.max = 2.0;
  histogram.layout = plot::HistogramLayout::side_by_side;
  histogram.height_kind = plot::HistogramHeight::fraction;
  // As fractions of their own sample both are 3/4 in the first bin, though their counts differ.
  histogram.samples.push_back({.name = "correct", .values = {0.5, 0.5, 0.5, 1.5}, .color = first});
  histogram.samples.push_back(
      {.name = "wrong", .values = {0.2, 0.4, 0.6, 0.8, 0.9, 0.1, 1.2, 1.3}, .color = second});
  histogram.legend = plot::LegendPlace::none;
  const plot::Canvas canvas = plot::render(histogram);
  const plot::Frame frame = plot::layout(histogram);
  CHECK(frame.y.max < 1);
  const int row = static_cast<int>(frame.y_to_pixel(0.5));
  CHECK(canvas.pixel(static_cast<int>(frame.x_to_pixel(0.3)), row) == first);
  CHECK(canvas.pixel(static_cast<int>(frame.x_to_pixel(0.7)), row) == second);
  CHECK(canvas.pixel(static_cast<int>(frame.x_to_pixel(1.3)), static_cast<int>(frame.y_to_pixel(0.2))) == first);
  CHECK(canvas.pixel(static_cast<int>(frame.x_to_pixel(1.7)), static_cast<int>(frame.y_to_pixel(0.2))) == second);
  // Same fraction, same height.
  const int above = static_cast<int>(frame.y_to_pixel(0.78));
  CHECK(canvas.pixel(static_cast<int>(frame.x_to_pixel(0.3)), above) != first);
  CHECK(canvas.pixel(static_cast<int>(frame.x_to_pixel(0.7)), above) != second);
}

TEST_CASE("histogram: empty samples give a picture saying no data, bad settings throw", "[plot]") {
  TempDir directory("plot");
  plot::Histogram histogram;
  histogram.title = "Nothing";
  histogram.samples.push_back({.name = "nan", .values = {kNaN, kNaN}});
  histogram.samples.push_back({.name = "empty"});
  const DecodedPng png = save_and_read(plot::render(histogram), directory / "empty_histogram.png");
  const plot::Rectangle& area = plot::layout(histogram).plot_area;
  const double middle_x = (area.left + area.right) / 2;
  const double middle_y = (area.top + area.bottom) / 2;
  CHECK(count_grey_ink(png, {middle_x - 60, middle_y - 15, middle_x + 60, middle_y + 15}) > 20);

  plot::Histogram no_bins;
  no_bins.bins = 0;
  CHECK_THAT(error_message([&] { plot::render(no_bins); }), Catch::Contains("bin count 0"));
  plot::Histogram reversed;
  reversed.min = 1.0;
  reversed.max = 0.0;
  CHECK_THROWS_AS(plot::layout(reversed), tapegrad::Error);
}

// ---- Bar chart ----

TEST_CASE("bar chart: bars rise from zero to their values, NaN leaves a gap", "[plot]") {
  TempDir directory("plot");
  const Color colour = plot::rgb(0x8c564b);
  plot::BarChart chart;
  chart.title = "L2 norm of W";
  chart.x_label = "lambda";
  chart.color = colour;
  chart.bars = {{"0", 4.0}, {"0.01", 2.0}, {"0.1", kNaN}, {"1", -1.0}};
  const DecodedPng png = save_and_read(plot::render(chart), directory / "bars.png");
  const plot::Frame frame = plot::layout(chart);
  const plot::Rectangle& area = frame.plot_area;
  CHECK(frame.y.min < -1);
  CHECK(frame.y.max > 4);
  const double slot = area.width() / 4;
  auto center = [&](int index) { return static_cast<int>(area.left + (index + 0.5) * slot); };
  CHECK(png.at(center(0), static_cast<int>(frame.y_to_pixel(3.9))) == colour);
  CHECK(png.at(center(0), static_cast<int>(frame.y_to_pixel(4.2))) != colour);
  CHECK(png.at(center(1), static_cast<int>(frame.y_to_pixel(1.9))) == colour);
  CHECK(png.at(center(1), static_cast<int>(frame.y_to_pixel(2.2))) != colour);
  CHECK(png.at(center(2), static_cast<int>(frame.y_to_pixel(1))) != colour);
  CHECK(png.at(center(3), static_cast<int>(frame.y_to_pixel(-0.9))) == colour);
  CHECK(png.at(center(3), static_cast<int>(frame.y_to_pixel(0.3))) != colour);
  // Category names stand under the plot.
  CHECK(count_grey_ink(png, {area.left, area.bottom + 2, area.right, area.bottom + 30}) > 30);
}

TEST_CASE("bar chart: long category names are turned upward instead of overlapping", "[plot]") {
  plot::BarChart chart;
  for (int index = 0; index < 12; ++index)
    chart.bars.push_back({"configuration " + std::to_string(index), index + 1.0});
  const plot::Frame frame = plot::layout(chart);
  const plot::Canvas canvas = plot::render(chart);
  // The band under the plot is taller than one line of text, and ink reaches well down into it.
  CHECK(canvas.height() - frame.plot_area.bottom > 80);
  int lowest_ink = 0;
  for (int y = static_cast<int>(frame.plot_area.bottom) + 2; y < canvas.height(); ++y) {
    for (int x = static_cast<int>(frame.plot_area.left); x < frame.plot_area.right; ++x) {
      if (canvas.pixel(x, y) != plot::white) lowest_ink = y;
    }
  }
  CHECK(lowest_ink > frame.plot_area.bottom + 60);
}

// ---- Image grid ----

namespace {

// A picture whose largest value (in every channel) is at (max_row, max_column) and smallest at (min_row,
// min_column), the rest in between.
plot::GridImage picture(int channels, int height, int width, float low, float high, int max_row, int max_column,
                        int min_row, int min_column, const std::string& caption) {
  plot::GridImage image{.channels = channels, .height = height, .width = width, .caption = caption};
  for (int channel = 0; channel < channels; ++channel) {
    for (int row = 0; row < height; ++row) {
      for (int column = 0; column < width; ++column) {
        const float share = 0.2f + 0.6f * static_cast<float>((row * 7 + column * 3 + channel * 5) % 11) / 10.0f;
        float value = low + share * (high - low);
        if (row == max_row && column == max_column) value = high;
        if (row == min_row && column == min_column) value = low;
        image.planes.push_back(value);
      }
    }
  }
  return image;
}

int brightness(Color color) { return color.red + color.green + color.blue; }

}  // namespace

TEST_CASE("image grid: each picture is stretched to its own range, enlarged by whole pixels", "[plot]") {
  TempDir directory("plot");
  plot::ImageGrid grid;
  grid.title = "Class templates";
  grid.zoom = 3;
  grid.images.push_back(picture(3, 32, 32, -0.03f, 0.05f, 5, 27, 30, 2, "airplane"));
  grid.images.push_back(picture(3, 32, 32, 100.0f, 100.5f, 0, 0, 31, 31, "automobile"));
  grid.images.push_back(picture(1, 28, 28, -7.0f, 3.0f, 14, 3, 2, 20, "digit"));
  const DecodedPng png = save_and_read(plot::render(grid), directory / "templates.png");
  const plot::GridLayout layout = plot::layout(grid);
  REQUIRE(png.width == layout.width);
  REQUIRE(png.height == layout.height);
  REQUIRE(layout.zoom == 3);
  REQUIRE(layout.image_origins.size() == 3);
  const int expected_max[3][2] = {{5, 27}, {0, 0}, {14, 3}};
  const int expected_min[3][2] = {{30, 2}, {31, 31}, {2, 20}};
  for (std::size_t index = 0; index < 3; ++index) {
    const plot::GridImage& image = grid.images[index];
    const int left = static_cast<int>(layout.image_origins[index].x);
    const int top = static_cast<int>(layout.image_origins[index].y);
    int brightest = -1, darkest = 1000;
    int brightest_row = -1, brightest_column = -1, darkest_row = -1, darkest_column = -1;
    for (int y = top; y < top + image.height * 3; ++y) {
      for (int x = left; x < left + image.width * 3; ++x) {
        const Color color = png.at(x, y);
        // Nearest neighbour: every pixel of a block has its top left pixel's colour.
        REQUIRE(color == png.at(left + (x - left) / 3 * 3, top + (y - top) / 3 * 3));
        if (brightness(color) > brightest) {
          brightest = brightness(color);
          brightest_row = (y - top) / 3;
          brightest_column = (x - left) / 3;
        }
        if (brightness(color) < darkest) {
          darkest = brightness(color);
          darkest_row = (y - top) / 3;
          darkest_column = (x - left) / 3;
        }
      }
    }
    INFO("image " << index);
    CHECK(brightest == 3 * 255);
    CHECK(darkest == 0);
    CHECK(brightest_row == expected_max[index][0]);
    CHECK(brightest_column == expected_max[index][1]);
    CHECK(darkest_row == expected_min[index][0]);
    CHECK(darkest_column == expected_min[index][1]);
    // The caption is written under the picture.
    const double caption_top = top + image.height * 3;
    CHECK(count_grey_ink(png, {left - 10.0, caption_top, left + image.width * 3 + 10.0, caption_top + 25}) > 15);
  }
  // A grey picture is grey: equal channels.
  const Color grey =
      png.at(static_cast<int>(layout.image_origins[2].x) + 10, static_cast<int>(layout.image_origins[2].y) + 10);
  CHECK(grey.red == grey.green);
  CHECK(grey.green == grey.blue);
}

TEST_CASE("image grid: rows of columns, constant and NaN pictures, bad shapes", "[plot]") {
  plot::ImageGrid grid;
  grid.columns = 5;
  for (int index = 0; index < 10; ++index) {
    grid.images.push_back(picture(1, 28, 28, 0.0f, 1.0f, 1, 1, 2, 2, std::to_string(index)));
  }
  grid.images[7].planes.assign(28 * 28, 0.25f);  // constant
  grid.images[8].planes[0] = std::numeric_limits<float>::quiet_NaN();
  const plot::GridLayout layout = plot::layout(grid);
  REQUIRE(layout.image_origins.size() == 10);
  CHECK(layout.zoom >= 2);
  CHECK(layout.image_origins[5].x == layout.image_origins[0].x);
  CHECK(layout.image_origins[5].y > layout.image_origins[0].y + 28 * layout.zoom);
  CHECK(layout.image_origins[1].x > layout.image_origins[0].x + 28 * layout.zoom);
  CHECK(layout.image_origins[1].y == layout.image_origins[0].y);
  const plot::Canvas canvas = plot::render(grid);
  const auto at = [&](int image, int row, int column) {
    return canvas.pixel(static_cast<int>(layout.image_origins[image].x) + column * layout.zoom,
                        static_cast<int>(layout.image_origins[image].y) + row * layout.zoom);
  };
  CHECK(at(7, 5, 5) == plot::rgb(0x808080));
  CHECK(at(7, 20, 13) == plot::rgb(0x808080));
  CHECK(at(8, 0, 0) == plot::rgb(0x808080));
  CHECK(at(8, 1, 1) == plot::white);
  CHECK(at(8, 2, 2) == plot::black);

  plot::ImageGrid wrong;
  wrong.images.push_back(
      {.channels = 3, .height = 32, .width = 32, .planes = std::vector<float>(32 * 32), .caption = "cat"});
  const std::string message = error_message([&] { plot::render(wrong); });
  CHECK_THAT(message, Catch::Contains("cat") && Catch::Contains("1024 values") && Catch::Contains("3072"));
  plot::ImageGrid two_channels;
  two_channels.images.push_back({.channels = 2, .height = 1, .width = 1, .planes = {0, 1}});
  CHECK_THROWS_AS(plot::layout(two_channels), tapegrad::Error);
  CHECK_NOTHROW(plot::render(plot::ImageGrid{}));
}
