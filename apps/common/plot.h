// The figures of a run, drawn by the apps themselves into an RGB raster and saved as PNG: line charts of
// training curves, histograms, grids of small images (learnt templates) and bar charts. Nothing but libpng
// is needed; text comes from a small built-in stroke font (ASCII plus a few Greek letters such as λ and η).
//
//   plot::LineChart chart{.title = "Cost", .x_axis = {.label = "epoch"}, .y_axis = {.label = "cost"}};
//   chart.series.push_back({.name = "training", .x = epochs, .y = training_cost});
//   chart.series.push_back({.name = "validation", .x = epochs, .y = validation_cost});
//   plot::save(chart, run_directory / "cost.png");
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::plot {

struct Color {
  std::uint8_t red = 0;
  std::uint8_t green = 0;
  std::uint8_t blue = 0;
  friend bool operator==(const Color&, const Color&) = default;
};

// 0xRRGGBB, the way colours are written everywhere else.
constexpr Color rgb(std::uint32_t hex) {
  return {static_cast<std::uint8_t>(hex >> 16), static_cast<std::uint8_t>(hex >> 8),
          static_cast<std::uint8_t>(hex)};
}

inline constexpr Color white = rgb(0xffffff);
inline constexpr Color black = rgb(0x000000);

// The colour of the index-th series when none is given: ten well-separated colours (the widely used "tab10"
// set: blue, orange, green, red, purple, ...), then repeating.
Color series_color(std::size_t index);

// Canvas coordinates are in pixels, x to the right, y downwards; pixel (i, j) covers [i, i+1) x [j, j+1).
struct Point {
  double x = 0;
  double y = 0;
};

struct Rectangle {
  double left = 0;
  double top = 0;
  double right = 0;
  double bottom = 0;
  double width() const { return right - left; }
  double height() const { return bottom - top; }
};

enum class HorizontalAlign { left, center, right };
// top: top of the capital letters; middle: half their height; bottom: lowest descender.
enum class VerticalAlign { top, middle, baseline, bottom };
// upward: turned a quarter left, read from bottom to top (a y axis label).
enum class TextDirection { horizontal, upward };

struct TextStyle {
  double cap_height = 9;  // pixels from the baseline to the top of a capital letter
  Color color = rgb(0x222222);
  HorizontalAlign horizontal = HorizontalAlign::left;
  VerticalAlign vertical = VerticalAlign::baseline;
  TextDirection direction = TextDirection::horizontal;
};

// Length of `text` along its baseline in pixels, as draw_text would draw it.
double text_width(std::string_view text, double cap_height);

// An RGB raster, 8 bits per channel, rows top to bottom. Drawing is anti-aliased and clipped to the canvas.
class Canvas {
 public:
  // Throws Error unless 1 <= width, height <= 16384.
  Canvas(int width, int height, Color background = white);

  int width() const { return width_; }
  int height() const { return height_; }
  // Throws Error for a pixel outside the canvas.
  Color pixel(int x, int y) const;
  void set_pixel(int x, int y, Color color);
  // width * height * 3 bytes: red, green, blue of each pixel, row after row.
  std::span<const std::uint8_t> bytes() const { return bytes_; }

  // Mixes `color` into a pixel with weight `opacity` in [0, 1]; a pixel outside the canvas is ignored.
  void blend_pixel(int x, int y, Color color, double opacity);
  // Edges that fall inside a pixel cover it partly; opacity in [0, 1] blends with what is there.
  void fill_rectangle(const Rectangle& area, Color color, double opacity = 1.0);
  void draw_line(Point from, Point to, Color color, double line_width = 1.0);
  // One stroke through the points, with round joins; a point with a NaN or infinite coordinate breaks it.
  void draw_polyline(std::span<const Point> points, Color color, double line_width = 1.0);
  void fill_circle(Point center, double radius, Color color);
  // `anchor` is placed according to the style's alignment.
  void draw_text(std::string_view text, Point anchor, const TextStyle& style);

  // Writes the canvas to `path` + ".tmp" and renames it to `path` when complete, so a file under the final
  // name is never partial. Throws Error naming the path when it cannot be written.
  void write_png(const std::filesystem::path& path) const;

 private:
  int width_;
  int height_;
  std::vector<std::uint8_t> bytes_;
};

// ---- Charts: plain descriptions, drawn by render() and written by save(). ----

enum class Scale { linear, log10 };

struct Axis {
  std::string label{};
  Scale scale = Scale::linear;  // log10 leaves out points at or below zero
  // A fixed end of the axis; an end not given follows the data with a small margin.
  std::optional<double> min{};
  std::optional<double> max{};
};

enum class SeriesStyle { line, markers, line_with_markers };

// Points whose x or y is NaN or infinite are left out (and break a line), so a curve with gaps is fine.
struct Series {
  std::string name{};
  std::vector<double> x{};
  std::vector<double> y{};  // as many as x
  SeriesStyle style = SeriesStyle::line;
  std::optional<Color> color{};  // series_color(position in the chart) when not given
};

enum class LegendPlace { best, upper_right, upper_left, lower_left, lower_right, none };

struct LineChart {
  std::string title{};
  Axis x_axis{};
  Axis y_axis{};
  std::vector<Series> series{};
  LegendPlace legend = LegendPlace::best;  // best: the corner that hides the fewest points
  int width = 800;
  int height = 500;
  double line_width = 2.0;
  double marker_radius = 3.5;
};

enum class HistogramLayout { overlaid, side_by_side };
// fraction: each sample's bars add up to 1, to compare samples of different sizes.
enum class HistogramHeight { count, fraction };

struct Sample {
  std::string name{};
  std::vector<double> values{};  // NaN, infinite and out-of-range values are not counted
  std::optional<Color> color{};
};

struct Histogram {
  std::string title{};
  std::string x_label{};
  std::string y_label{};  // "count" or "fraction" when empty
  std::vector<Sample> samples{};
  int bins = 20;
  // The range the bins divide evenly; each end not given is taken from the data. A value equal to the upper
  // end falls in the last bin.
  std::optional<double> min{};
  std::optional<double> max{};
  HistogramLayout layout = HistogramLayout::overlaid;
  HistogramHeight height_kind = HistogramHeight::count;
  double fill_opacity = 0.4;  // overlaid bars; their outlines are drawn opaque
  LegendPlace legend = LegendPlace::best;
  int width = 800;
  int height = 500;
};

struct Bar {
  std::string label{};
  double value = 0;  // NaN or infinite: no bar, "n/a" instead
};

struct BarChart {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  std::vector<Bar> bars{};
  std::optional<Color> color{};  // series_color(0) when not given
  bool show_values = true;       // the value written at the end of each bar
  int width = 800;
  int height = 500;
};

// One small picture as channel planes: channels x height x width values, plane after plane (red, green, blue
// or one grey plane), each plane row after row from the top, which is the layout of a CIFAR-10 record and of a
// row of a softmax weight matrix. Each picture is stretched to its own minimum..maximum, so the smallest
// value is black and the largest white; a constant picture is mid-grey and NaN or infinite values are left
// out of the range and drawn mid-grey.
struct GridImage {
  int channels = 1;  // 1 or 3
  int height = 0;
  int width = 0;
  std::vector<float> planes{};
  std::string caption{};
};

struct ImageGrid {
  std::string title{};
  std::vector<GridImage> images{};
  int columns = 0;  // 0: all in one row
  int zoom = 0;     // whole-number enlargement, nearest neighbour; 0: about 96 pixels for the larger side
};

// Where the data of a chart landed: the plot area on the canvas and the axis ranges mapped onto its edges
// (x min at the left edge, y min at the bottom edge).
struct AxisRange {
  double min = 0;
  double max = 1;
  Scale scale = Scale::linear;
};

struct Frame {
  Rectangle plot_area{};
  AxisRange x{};
  AxisRange y{};
  double x_to_pixel(double x_value) const;
  double y_to_pixel(double y_value) const;
};

// Where each picture of an image grid landed: its top left pixel and the enlargement.
struct GridLayout {
  int width = 0;
  int height = 0;
  int zoom = 1;
  std::vector<Point> image_origins{};
};

// All of these throw Error for a description that cannot be drawn (mismatched lengths, bad sizes or ranges),
// saying which part is wrong; data that is merely NaN or empty still gives a picture (saying "no data").
Frame layout(const LineChart& chart);
Frame layout(const Histogram& histogram);
Frame layout(const BarChart& chart);
GridLayout layout(const ImageGrid& grid);

Canvas render(const LineChart& chart);
Canvas render(const Histogram& histogram);
Canvas render(const BarChart& chart);
Canvas render(const ImageGrid& grid);

// render(...).write_png(path).
void save(const LineChart& chart, const std::filesystem::path& path);
void save(const Histogram& histogram, const std::filesystem::path& path);
void save(const BarChart& chart, const std::filesystem::path& path);
void save(const ImageGrid& grid, const std::filesystem::path& path);

}  // namespace tapegrad::plot
