// The figures of a run: line charts of training curves, histograms, grids of small images (learnt templates)
// and bar charts. The layout is ours (axis ranges, nice ticks, legends in the corner that hides the least data,
// bins, grids); cairo draws it (paths, anti-aliasing, text in DejaVu Sans) and writes PNG, or SVG for a path
// ending in .svg.
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
#include <string>
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

// Chart coordinates are in pixels, x to the right, y downwards, (0, 0) at the top left corner of the picture.
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

// ---- Charts: plain descriptions, laid out by layout() and drawn and written by save(). ----

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

// What a chart draws, as laid out before any drawing: the plot area on the picture, the axis ranges mapped
// onto its edges (x min at the left edge, y min at the bottom edge), the ticks with their labels, the texts as
// written (shortened with "..." when they do not fit) and the legend.
struct AxisRange {
  double min = 0;
  double max = 1;
  Scale scale = Scale::linear;
};

struct Tick {
  double value = 0;  // in data units; for a bar chart, the middle of a category's slot (0.5, 1.5, ...)
  std::string label{};
};

enum class LegendMark { line, marker, line_and_marker, swatch };

struct LegendEntry {
  std::string text{};
  Color color{};
  LegendMark mark = LegendMark::line;
  double fill_opacity = 1;  // a swatch shows the bars' fill
};

struct Legend {
  Rectangle box{};
  LegendPlace corner = LegendPlace::upper_right;
  std::vector<LegendEntry> entries{};
};

// A text written inside the plot area: a bar's value, or "no data".
struct Annotation {
  std::string text{};
  Point anchor{};     // the horizontal middle of the text
  bool above = true;  // true: its baseline is at the anchor; false: the top of its digits is
};

struct Frame {
  int width = 0;  // the picture
  int height = 0;
  Rectangle plot_area{};
  AxisRange x{};
  AxisRange y{};
  std::vector<Tick> x_ticks{};
  std::vector<Tick> y_ticks{};
  std::vector<double> x_minor_ticks{};  // log axes: 2..9 times each power of ten, when few decades are shown
  std::vector<double> y_minor_ticks{};
  bool x_labels_upward = false;  // bar charts turn long category names a quarter left
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  std::optional<Legend> legend{};
  std::vector<Annotation> annotations{};
  double x_to_pixel(double x_value) const;
  double y_to_pixel(double y_value) const;
};

// What a histogram counts: the range its bins divide evenly, and each sample's bar heights (counts or
// fractions, as the histogram asks).
struct Bins {
  double min = 0;
  double max = 1;
  std::vector<std::vector<double>> heights{};  // per sample, per bin
  std::vector<std::size_t> counted{};          // per sample: the values that fell in a bin
};

// Where each picture of an image grid landed: its top left pixel and the enlargement, with the captions as
// written, centred on `caption_anchors` (the middle of each caption's top).
struct GridLayout {
  int width = 0;
  int height = 0;
  int zoom = 1;
  std::string title{};
  std::vector<Point> image_origins{};
  std::vector<std::string> captions{};
  std::vector<Point> caption_anchors{};
};

// All of these throw Error for a description that cannot be drawn (mismatched lengths, bad sizes or ranges),
// saying which part is wrong; data that is merely NaN or empty still gives a picture (saying "no data").
Frame layout(const LineChart& chart);
Frame layout(const Histogram& histogram);
Frame layout(const BarChart& chart);
GridLayout layout(const ImageGrid& grid);
Bins bin(const Histogram& histogram);

// Draws the chart and writes it to `path`: SVG when the path ends in ".svg", PNG when it ends in ".png". The file
// is written whole under a temporary name and renamed into place, so a file under the final name is never
// partial. Throws Error naming the path when it cannot be written or has another extension.
void save(const LineChart& chart, const std::filesystem::path& path);
void save(const Histogram& histogram, const std::filesystem::path& path);
void save(const BarChart& chart, const std::filesystem::path& path);
void save(const ImageGrid& grid, const std::filesystem::path& path);

}  // namespace tapegrad::plot
