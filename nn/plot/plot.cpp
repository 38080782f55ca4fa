// The layout of the charts: axis ranges, nice ticks and their labels, margins from what is written in them,
// legends in the corner that hides the least data, histogram bins, image grids. Drawing is in plot_draw.cpp.
#include <tapegrad/nn/plot/plot.h>

#include <fmt/format.h>
#include <tapegrad/core/error.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>

#include <tapegrad/nn/plot/plot_detail.h>

namespace tapegrad::plot {
namespace {

using detail::cap_height;
using detail::descent;
using detail::fit_text;
using detail::text_width;
using detail::Typography;
using detail::typography_for;

constexpr int kMaxPictureSide = 16384;
// Beyond this, differences of values overflow; such values are treated like NaN.
constexpr double kLargestPlottable = 1e300;

bool plottable(double value) { return std::isfinite(value) && std::abs(value) <= kLargestPlottable; }

std::string describe(const char* kind, const std::string& title) {
  return title.empty() ? std::string(kind) : fmt::format("{} '{}'", kind, title);
}

void check_chart_size(const std::string& what, int width, int height) {
  if (width < 240 || height < 160 || width > kMaxPictureSide || height > kMaxPictureSide) {
    throw_error(fmt::format("{}: size {} x {} is not supported; use 240 x 160 up to {} x {} pixels", what, width,
                            height, kMaxPictureSide, kMaxPictureSide));
  }
}

// Whether any part of the segment lies inside `box`, and that part's length (-1 when none does).
double length_inside(Point from, Point to, const Rectangle& box) {
  double enter = 0;
  double leave = 1;
  if (!detail::segment_inside(from, to, box, enter, leave)) return -1;
  return (leave - enter) * std::hypot(to.x - from.x, to.y - from.y);
}

bool finite_point(Point point) { return std::isfinite(point.x) && std::isfinite(point.y); }

// ---- Axes: ranges, ticks, labels ----

double to_axis(double value, Scale scale) {
  if (scale == Scale::linear) return value;
  return value > 0 ? std::log10(value) : std::numeric_limits<double>::quiet_NaN();
}

struct DataBounds {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  bool empty() const { return !(low <= high); }
  void add(double value) {
    low = std::min(low, value);
    high = std::max(high, value);
  }
};

// Ticks, labels and bins need a span that doubles can divide: at least a billionth of the values' size.
void widen_to_least_span(double& low, double& high) {
  const double least_span = std::max({std::abs(low), std::abs(high), 1e-200}) * 1e-9;
  if (high - low < least_span) {
    const double middle = low / 2 + high / 2;
    low = middle - least_span / 2;
    high = middle + least_span / 2;
  }
}

// The shown range of an axis: the data (in axis units) with `margin` of its span on each side, overridden by
// fixed ends.
AxisRange resolve_range(const std::string& what, const char* axis_name, const Axis& axis, DataBounds data,
                        double margin) {
  const bool log = axis.scale == Scale::log10;
  for (const auto* end : {&axis.min, &axis.max}) {
    if (end->has_value() && (!plottable(**end) || (log && **end <= 0))) {
      throw_error(fmt::format(
          "{}: {} axis {} {} cannot be used{}", what, axis_name, end == &axis.min ? "min" : "max", **end,
          log ? " on a log scale; give a positive finite value" : "; give a finite value within +-1e300"));
    }
  }
  if (axis.min && axis.max && !(*axis.min < *axis.max)) {
    throw_error(
        fmt::format("{}: {} axis min ({}) must be below its max ({})", what, axis_name, *axis.min, *axis.max));
  }
  double low = 0;
  double high = 1;
  if (!data.empty()) {
    const double span = data.high - data.low;
    const double pad = span > 0 ? span * margin : std::max(std::abs(data.low) * 0.1, log ? 0.5 : 1.0);
    low = data.low - pad;
    high = data.high + pad;
  }
  if (axis.min) low = to_axis(*axis.min, axis.scale);
  if (axis.max) high = to_axis(*axis.max, axis.scale);
  if (!(low < high)) {
    // One end was fixed beyond the data: keep it and give the axis a span of its own.
    const double span = std::max({data.empty() ? 1.0 : data.high - data.low, std::abs(low) * 0.1, 1e-9});
    if (axis.min) {
      high = low + span;
    } else {
      low = high - span;
    }
  }
  widen_to_least_span(low, high);
  if (log) return {std::pow(10.0, std::max(low, -300.0)), std::pow(10.0, std::min(high, 300.0)), Scale::log10};
  return {low, high, Scale::linear};
}

double nice_step_at_least(double raw) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / magnitude;
  if (fraction <= 1 + 1e-9) return magnitude;
  if (fraction <= 2 + 1e-9) return 2 * magnitude;
  if (fraction <= 5 + 1e-9) return 5 * magnitude;
  return 10 * magnitude;
}

double next_nice_step(double step) { return nice_step_at_least(step * 1.5); }

struct Ticks {
  std::vector<Tick> major;
  std::vector<double> minor;
};

// Typeset numbers use the minus sign, which is as wide as a plus, rather than the short hyphen.
std::string with_minus_sign(const std::string& text) {
  std::string typeset;
  for (char character : text) {
    if (character == '-') {
      typeset += "\u2212";
    } else {
      typeset += character;
    }
  }
  return typeset;
}

std::string compact_exponent(std::string text) {
  // "2.5e+05" -> "2.5e5", "1e-04" -> "1e-4"
  const auto e = text.find('e');
  if (e == std::string::npos) return text;
  std::string mantissa = text.substr(0, e);
  std::string exponent = text.substr(e + 1);
  bool negative = false;
  if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) {
    negative = exponent[0] == '-';
    exponent.erase(0, 1);
  }
  while (exponent.size() > 1 && exponent[0] == '0') exponent.erase(0, 1);
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

// One format for all labels of an axis, with as many decimals as the step needs.
std::vector<Tick> labelled_linear_ticks(const std::vector<double>& values, double step) {
  double largest = 0;
  for (double value : values) largest = std::max(largest, std::abs(value));
  const bool scientific = largest >= 1e6 || (largest > 0 && largest < 1e-3);
  const int step_exponent = static_cast<int>(std::floor(std::log10(step) + 1e-9));
  std::vector<Tick> ticks;
  for (double value : values) {
    std::string label;
    if (value == 0 && scientific) {
      label = "0";
    } else if (scientific) {
      const int digits = std::clamp(static_cast<int>(std::floor(std::log10(largest))) - step_exponent, 0, 6);
      label = with_minus_sign(compact_exponent(fmt::format("{:.{}e}", value, digits)));
    } else {
      label = with_minus_sign(fmt::format("{:.{}f}", value, std::clamp(-step_exponent, 0, 10)));
    }
    ticks.push_back({value, std::move(label)});
  }
  return ticks;
}

std::vector<double> multiples_in(double low, double high, double step) {
  std::vector<double> values;
  const double first = std::ceil(low / step - 1e-9);
  const double last = std::floor(high / step + 1e-9);
  for (double index = first; index <= last && values.size() < 1000; ++index) {
    const double value = index * step;
    values.push_back(std::abs(value) < step * 1e-9 ? 0.0 : value);
  }
  return values;
}

// `fits(ticks, spacing_px)` says whether the labels stand clear of each other.
using LabelCheck = std::function<bool(const std::vector<Tick>&, double spacing_pixels)>;

Ticks linear_ticks(const AxisRange& range, double length_pixels, double min_spacing_pixels,
                   const LabelCheck& fits) {
  const double span = range.max - range.min;
  // At most nine intervals, as matplotlib's default tick locator.
  const int max_count = std::clamp(static_cast<int>(length_pixels / min_spacing_pixels), 2, 9);
  double step = nice_step_at_least(span / max_count);
  Ticks ticks;
  for (int attempt = 0; attempt < 30; ++attempt) {
    ticks.major = labelled_linear_ticks(multiples_in(range.min, range.max, step), step);
    if (fits(ticks.major, step / span * length_pixels)) break;
    const double larger = next_nice_step(step);
    if (multiples_in(range.min, range.max, larger).empty()) break;
    step = larger;
  }
  return ticks;
}

// Plain decimals while every label of the axis is short (0.001 .. 10000), else 1e-5 style for all but 1.
std::string format_power_of_ten(int exponent, bool plain) {
  if (plain && exponent >= 0) return fmt::format("{:.0f}", std::pow(10.0, exponent));
  if (plain) return fmt::format("{:.{}f}", std::pow(10.0, exponent), -exponent);
  if (exponent == 0) return "1";
  return with_minus_sign(fmt::format("1e{}", exponent));
}

Ticks log_ticks(const AxisRange& range, double length_pixels, double min_spacing_pixels, const LabelCheck& fits) {
  const double low = std::log10(range.min);
  const double high = std::log10(range.max);
  const int first = static_cast<int>(std::ceil(low - 1e-9));
  const int last = static_cast<int>(std::floor(high + 1e-9));
  Ticks ticks;
  if (last - first >= 1) {
    const int max_count = std::max(2, static_cast<int>(length_pixels / min_spacing_pixels));
    for (int stride : {1, 2, 3, 5, 10, 20, 50, 100}) {
      ticks = {};
      if ((last - first) / stride + 1 > max_count) continue;
      const bool plain = first >= -3 && last <= 4;
      for (int exponent = first; exponent <= last; ++exponent) {
        if (exponent % stride != 0) continue;
        ticks.major.push_back({std::pow(10.0, exponent), format_power_of_ten(exponent, plain)});
      }
      if (ticks.major.size() >= 2 && fits(ticks.major, stride / (high - low) * length_pixels)) break;
    }
    if (high - low <= 8) {
      for (int exponent = first - 1; exponent <= last; ++exponent) {
        for (int multiple = 2; multiple <= 9; ++multiple) {
          const double value = multiple * std::pow(10.0, exponent);
          if (value >= range.min && value <= range.max) ticks.minor.push_back(value);
        }
      }
    }
    return ticks;
  }
  // Less than a decade: 1-2-5 multiples, or every multiple when those are too few, labelled plainly.
  for (const std::vector<int>& multiples :
       {std::vector<int>{1, 2, 5}, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    ticks = {};
    for (int exponent = first - 1; exponent <= last; ++exponent) {
      for (int multiple : multiples) {
        const double value = multiple * std::pow(10.0, exponent);
        if (value >= range.min * (1 - 1e-9) && value <= range.max * (1 + 1e-9)) {
          ticks.major.push_back({value, with_minus_sign(compact_exponent(fmt::format("{:g}", value)))});
        }
      }
    }
    if (ticks.major.size() >= 3) return ticks;
  }
  return ticks;
}

double widest_label(const std::vector<Tick>& ticks, double size) {
  double widest = 0;
  for (const auto& tick : ticks) widest = std::max(widest, text_width(tick.label, size));
  return widest;
}

Ticks axis_ticks(const AxisRange& range, double length_pixels, double min_spacing_pixels, const LabelCheck& fits) {
  return range.scale == Scale::log10 ? log_ticks(range, length_pixels, min_spacing_pixels, fits)
                                     : linear_ticks(range, length_pixels, min_spacing_pixels, fits);
}

// ---- Chart frame: margins, axes, title ----

struct ChartText {
  const std::string& title;
  const std::string& x_label;
  const std::string& y_label;
};

double line_height(double size) { return cap_height(size) + descent(size); }

// Margins come from what is written in them: title above; tick labels and axis labels below and to the left.
// `category_band` > 0 replaces the x tick labels by a band of that height for category names.
Frame lay_out_chart(int width, int height, ChartText text, AxisRange x_range, AxisRange y_range,
                    double category_band = 0) {
  Frame frame;
  frame.width = width;
  frame.height = height;
  const Typography type = typography_for(width, height);
  const bool numeric_x = category_band <= 0;
  const double tick_line = line_height(type.tick_text);
  const double label_line = line_height(type.label_text);

  const double title_block = text.title.empty() ? 0 : line_height(type.title_text) + 2 * type.gap;
  const double top = std::round(type.pad + std::max(title_block, cap_height(type.tick_text)));
  const double x_band = numeric_x ? type.gap + tick_line : category_band;
  const double x_label_band = text.x_label.empty() ? 0 : 1.5 * type.gap + label_line;
  const double bottom = std::round(1 + type.tick_length + x_band + x_label_band + type.pad);
  const double plot_height = height - top - bottom;
  if (plot_height < 30)
    throw_error(fmt::format("chart of {} x {} pixels leaves no room to plot; make it taller", width, height));

  // Two lines of text between y ticks at the least, as matplotlib's tick locator keeps them.
  const double y_min_spacing = std::max(type.tick_text * 2.2, 28.0 * type.scale);
  Ticks y_ticks =
      axis_ticks(y_range, plot_height, y_min_spacing, [](const std::vector<Tick>&, double) { return true; });
  const double y_label_band = text.y_label.empty() ? 0 : label_line + 2 * type.gap;
  double left =
      type.pad + y_label_band + widest_label(y_ticks.major, type.tick_text) + type.gap + type.tick_length + 1;
  left = std::round(std::min(left, 0.45 * width));

  const double x_min_spacing = 70 * type.scale;
  // Labels stand at least two spaces apart.
  const double tick_gap = 2 * text_width(" ", type.tick_text) + type.gap;
  const LabelCheck x_labels_fit = [&](const std::vector<Tick>& ticks, double spacing) {
    return widest_label(ticks, type.tick_text) + tick_gap <= spacing;
  };
  double right = std::round(2 * type.pad);
  double plot_width = width - left - right;
  Ticks x_ticks;
  if (numeric_x) {
    x_ticks = axis_ticks(x_range, plot_width, x_min_spacing, x_labels_fit);
    // The label under the right end must not run off the picture.
    const double overhang = widest_label(x_ticks.major, type.tick_text) / 2 + type.gap;
    if (overhang > right) {
      right = std::round(overhang);
      plot_width = width - left - right;
      x_ticks = axis_ticks(x_range, plot_width, x_min_spacing, x_labels_fit);
    }
  }
  if (plot_width < 30)
    throw_error(fmt::format("chart of {} x {} pixels leaves no room to plot; make it wider", width, height));

  frame.plot_area = {left, top, width - right, height - bottom};
  frame.x = x_range;
  frame.y = y_range;
  frame.x_ticks = std::move(x_ticks.major);
  frame.x_minor_ticks = std::move(x_ticks.minor);
  frame.y_ticks = std::move(y_ticks.major);
  frame.y_minor_ticks = std::move(y_ticks.minor);
  frame.title = fit_text(text.title, type.title_text, width - 2 * type.pad);
  frame.x_label = fit_text(text.x_label, type.label_text, width - 2 * type.pad);
  frame.y_label = fit_text(text.y_label, type.label_text, height - 2 * type.pad);
  return frame;
}

void say_no_data(Frame& frame) {
  const Rectangle& area = frame.plot_area;
  const double size = typography_for(frame.width, frame.height).label_text * 1.2;
  frame.annotations.push_back(
      {"no data", {(area.left + area.right) / 2, (area.top + area.bottom) / 2 + cap_height(size) / 2}, true});
}

// ---- Legend ----

struct LegendMetrics {
  double padding;
  double row_height;
  double sample_length;
  double text_gap;
  double inset;
};

// matplotlib's legend in em of its text: border pad 0.4, handle 2.0, handle to text 0.8, rows 1.5 apart
// (a line and its spacing), 0.5 from the axes.
LegendMetrics legend_metrics(const Typography& type) {
  const double em = type.legend_text;
  return {std::round(0.5 * em), std::round(1.5 * em), std::round(2.0 * em), std::round(0.8 * em),
          std::round(0.6 * em)};
}

// How much data a legend box would hide on a chart with this frame.
using HiddenData = std::function<double(const Frame&, const Rectangle&)>;
using Relayout = std::function<Frame(const AxisRange& y_range)>;

Rectangle legend_corner_box(const std::vector<LegendEntry>& entries, const Typography& type, const Rectangle& area,
                            LegendPlace place) {
  const LegendMetrics metrics = legend_metrics(type);
  double widest = 0;
  for (const auto& entry : entries) widest = std::max(widest, text_width(entry.text, type.legend_text));
  const double box_width = std::ceil(2 * metrics.padding + metrics.sample_length + metrics.text_gap + widest);
  const double box_height = std::ceil(2 * metrics.padding + entries.size() * metrics.row_height -
                                      (metrics.row_height - line_height(type.legend_text)));
  const bool at_right = place == LegendPlace::upper_right || place == LegendPlace::lower_right;
  const bool at_top = place == LegendPlace::upper_right || place == LegendPlace::upper_left;
  const double left = std::round(at_right ? area.right - metrics.inset - box_width : area.left + metrics.inset);
  const double top = std::round(at_top ? area.top + metrics.inset : area.bottom - metrics.inset - box_height);
  return {left, top, left + box_width, top + box_height};
}

struct LegendChoice {
  Legend legend;
  double hidden = 0;
};

// `best` takes the first corner, in reading order of preference, that hides the least data.
LegendChoice choose_legend(const std::vector<LegendEntry>& entries, const Frame& frame, LegendPlace place,
                           const HiddenData& hidden) {
  const Typography type = typography_for(frame.width, frame.height);
  const Rectangle& area = frame.plot_area;
  if (place != LegendPlace::best) return {{legend_corner_box(entries, type, area, place), place, entries}, 0};
  LegendChoice chosen{{}, std::numeric_limits<double>::infinity()};
  for (LegendPlace corner :
       {LegendPlace::upper_right, LegendPlace::upper_left, LegendPlace::lower_right, LegendPlace::lower_left}) {
    const Rectangle box = legend_corner_box(entries, type, area, corner);
    const double score = hidden(frame, box);
    if (score < chosen.hidden) chosen = {{box, corner, entries}, score};
  }
  return chosen;
}

// Places the legend; when every corner would hide data and the top of the y axis follows the data, the axis
// is raised (by at most 40 percent) so that the legend fits above the highest point, as one would by hand.
// `data_top` is the highest y in axis units, or NaN when the axis top is fixed.
void settle_legend(Frame& frame, std::vector<LegendEntry> entries, LegendPlace place, const HiddenData& hidden,
                   double data_top, const Relayout& relayout) {
  if (entries.empty() || place == LegendPlace::none) return;
  const Typography type = typography_for(frame.width, frame.height);
  const LegendMetrics metrics = legend_metrics(type);
  const double max_text =
      std::max(40.0, 0.45 * frame.plot_area.width() - metrics.sample_length - 3 * metrics.padding);
  for (auto& entry : entries) entry.text = fit_text(entry.text, type.legend_text, max_text);
  LegendChoice choice = choose_legend(entries, frame, place, hidden);
  if (place == LegendPlace::best && choice.hidden > 0 && std::isfinite(data_top)) {
    const Rectangle& area = frame.plot_area;
    const Rectangle top_box = legend_corner_box(entries, type, area, LegendPlace::upper_right);
    const double fraction = (top_box.bottom + metrics.inset - area.top) / area.height();
    const AxisRange& y = frame.y;
    const double low = to_axis(y.min, y.scale);
    const double high = (data_top - fraction * low) / (1 - fraction);
    if (fraction < 0.4 && high > to_axis(y.max, y.scale)) {
      AxisRange raised = y;
      raised.max = y.scale == Scale::log10 ? std::pow(10.0, high) : high;
      Frame taller = relayout(raised);
      const LegendChoice again = choose_legend(entries, taller, place, hidden);
      if (again.hidden < choice.hidden) {
        frame = std::move(taller);
        choice = again;
      }
    }
  }
  frame.legend = std::move(choice.legend);
}

// ---- Line chart ----

std::vector<Point> series_pixels(const Series& series, const Frame& frame) {
  std::vector<Point> pixels(series.x.size());
  for (std::size_t index = 0; index < series.x.size(); ++index) {
    const double x = series.x[index];
    const double y = series.y[index];
    if (!plottable(x) || !plottable(y)) {
      pixels[index] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
    } else {
      pixels[index] = {frame.x_to_pixel(x), frame.y_to_pixel(y)};
    }
  }
  return pixels;
}

void validate(const LineChart& chart, const std::string& what) {
  check_chart_size(what, chart.width, chart.height);
  if (!(chart.line_width > 0 && chart.line_width <= 50)) {
    throw_error(fmt::format("{}: line width {} must be in (0, 50] pixels", what, chart.line_width));
  }
  if (!(chart.marker_radius > 0 && chart.marker_radius <= 50)) {
    throw_error(fmt::format("{}: marker radius {} must be in (0, 50] pixels", what, chart.marker_radius));
  }
  for (std::size_t index = 0; index < chart.series.size(); ++index) {
    const Series& series = chart.series[index];
    if (series.x.size() != series.y.size()) {
      throw_error(fmt::format("{}: series {} ('{}') has {} x values but {} y values; give one y per x", what,
                              index, series.name, series.x.size(), series.y.size()));
    }
  }
}

LegendMark legend_mark(SeriesStyle style) {
  switch (style) {
    case SeriesStyle::markers:
      return LegendMark::marker;
    case SeriesStyle::line_with_markers:
      return LegendMark::line_and_marker;
    case SeriesStyle::line:
      break;
  }
  return LegendMark::line;
}

// The length of line under the box (with its width), plus a marker's width for each marker under it.
double hidden_by(const LineChart& chart, const Frame& frame, const Rectangle& box) {
  auto grown = [&](double by) { return Rectangle{box.left - by, box.top - by, box.right + by, box.bottom + by}; };
  const Rectangle line_box = grown(chart.line_width);
  const Rectangle marker_box = grown(chart.marker_radius);
  auto inside = [](const Rectangle& area, Point point) {
    return point.x >= area.left && point.x <= area.right && point.y >= area.top && point.y <= area.bottom;
  };
  double covered = 0;
  for (const Series& series : chart.series) {
    const std::vector<Point> pixels = series_pixels(series, frame);
    for (std::size_t point = 0; point < pixels.size(); ++point) {
      if (!finite_point(pixels[point])) continue;
      if (series.style != SeriesStyle::line && inside(marker_box, pixels[point]))
        covered += 2 * chart.marker_radius;
      if (series.style == SeriesStyle::markers) continue;
      if (point + 1 < pixels.size() && finite_point(pixels[point + 1])) {
        const double length = length_inside(pixels[point], pixels[point + 1], line_box);
        if (length >= 0) covered += 1 + length;
      } else if (inside(line_box, pixels[point])) {
        covered += 1;
      }
    }
  }
  return covered;
}

// ---- Histogram ----

Bins bin_samples(const Histogram& histogram, const std::string& what) {
  check_chart_size(what, histogram.width, histogram.height);
  if (histogram.bins < 1 || histogram.bins > 10000) {
    throw_error(fmt::format("{}: bin count {} must be between 1 and 10000", what, histogram.bins));
  }
  if (!(histogram.fill_opacity >= 0 && histogram.fill_opacity <= 1)) {
    throw_error(fmt::format("{}: fill opacity {} must be between 0 and 1", what, histogram.fill_opacity));
  }
  for (const auto* end : {&histogram.min, &histogram.max}) {
    if (end->has_value() && !plottable(**end)) {
      throw_error(fmt::format("{}: bin range end {} must be a finite number within +-1e300", what, **end));
    }
  }
  if (histogram.min && histogram.max && !(*histogram.min < *histogram.max)) {
    throw_error(
        fmt::format("{}: bin range min ({}) must be below max ({})", what, *histogram.min, *histogram.max));
  }
  DataBounds bounds;
  for (const Sample& sample : histogram.samples) {
    for (double value : sample.values) {
      if (plottable(value)) bounds.add(value);
    }
  }
  Bins bins;
  if (!bounds.empty()) {
    bins.min = bounds.low;
    bins.max = bounds.high;
  }
  if (histogram.min) bins.min = *histogram.min;
  if (histogram.max) bins.max = *histogram.max;
  if (!(bins.min < bins.max)) {
    const double half = std::max(std::abs(bins.min) * 0.05, 0.5);
    if (histogram.min) {
      bins.max = bins.min + 2 * half;
    } else if (histogram.max) {
      bins.min = bins.max - 2 * half;
    } else {
      bins.min -= half;
      bins.max += half;
    }
  }
  widen_to_least_span(bins.min, bins.max);
  const double bin_width = (bins.max - bins.min) / histogram.bins;
  for (const Sample& sample : histogram.samples) {
    std::vector<double> counts(static_cast<std::size_t>(histogram.bins), 0.0);
    std::size_t counted = 0;
    for (double value : sample.values) {
      if (!plottable(value) || value < bins.min || value > bins.max) continue;
      const auto bin = std::min(static_cast<std::size_t>((value - bins.min) / bin_width), counts.size() - 1);
      counts[bin] += 1;
      counted += 1;
    }
    if (histogram.height_kind == HistogramHeight::fraction && counted > 0) {
      for (double& count : counts) count /= static_cast<double>(counted);
    }
    bins.heights.push_back(std::move(counts));
    bins.counted.push_back(counted);
  }
  return bins;
}

Frame histogram_frame(const Histogram& histogram, const Bins& bins) {
  double tallest = 0;
  for (const auto& heights : bins.heights) {
    for (double height : heights) tallest = std::max(tallest, height);
  }
  const double span = bins.max - bins.min;
  const AxisRange x_range{bins.min - 0.02 * span, bins.max + 0.02 * span, Scale::linear};
  const AxisRange y_range{0, tallest > 0 ? tallest * 1.05 : 1, Scale::linear};
  const std::string y_label = !histogram.y_label.empty()                           ? histogram.y_label
                              : histogram.height_kind == HistogramHeight::fraction ? "fraction"
                                                                                   : "count";
  const Relayout relayout = [&](const AxisRange& y) {
    return lay_out_chart(histogram.width, histogram.height, {histogram.title, histogram.x_label, y_label}, x_range,
                         y);
  };
  Frame frame = relayout(y_range);
  std::vector<LegendEntry> entries;
  const bool overlaid = histogram.layout == HistogramLayout::overlaid;
  for (std::size_t sample = 0; sample < histogram.samples.size(); ++sample) {
    const Sample& source = histogram.samples[sample];
    if (source.name.empty()) continue;
    entries.push_back({bins.counted[sample] > 0 ? source.name : source.name + " (no data)",
                       source.color.value_or(series_color(sample)), LegendMark::swatch,
                       overlaid ? histogram.fill_opacity : 1.0});
  }
  const HiddenData hidden = [&](const Frame& candidate, const Rectangle& box) {
    double covered = 0;
    for (const detail::HistogramBar& bar : detail::histogram_bars(histogram, bins, candidate)) {
      const double overlap_x = std::min(bar.area.right, box.right) - std::max(bar.area.left, box.left);
      const double overlap_y = std::min(bar.area.bottom, box.bottom) - std::max(bar.area.top, box.top);
      if (overlap_x > 0 && overlap_y > 0) covered += overlap_x * overlap_y;
    }
    return covered;
  };
  const double data_top = tallest > 0 ? tallest : std::numeric_limits<double>::quiet_NaN();
  settle_legend(frame, std::move(entries), histogram.legend, hidden, data_top, relayout);
  if (tallest <= 0) say_no_data(frame);
  return frame;
}

// ---- Bar chart ----

struct CategoryLabels {
  bool upward = false;
  double band = 0;
};

CategoryLabels category_labels(const BarChart& chart, const Typography& type) {
  double widest = 0;
  for (const Bar& bar : chart.bars) widest = std::max(widest, text_width(bar.label, type.tick_text));
  const double estimated_slot =
      0.8 * chart.width / static_cast<double>(std::max<std::size_t>(1, chart.bars.size()));
  CategoryLabels labels;
  if (widest <= estimated_slot - 2 * type.gap) {
    labels.band = type.gap + line_height(type.tick_text);
  } else {
    labels.upward = true;
    labels.band = type.gap + std::min(widest, 0.3 * chart.height) + type.gap;
  }
  return labels;
}

std::string format_bar_value(double value) {
  if (!plottable(value)) return "n/a";
  const double magnitude = std::abs(value);
  if (magnitude != 0 && (magnitude >= 1e6 || magnitude < 1e-3)) {
    return with_minus_sign(compact_exponent(fmt::format("{:.3g}", value)));
  }
  return with_minus_sign(fmt::format("{:.4g}", value));
}

// Category names as x ticks in the middle of their slots, and each bar's value at its end where it fits.
void label_bars(const BarChart& chart, const CategoryLabels& labels, Frame& frame) {
  const Typography type = typography_for(chart.width, chart.height);
  const Rectangle& area = frame.plot_area;
  const double slot = area.width() / static_cast<double>(std::max<std::size_t>(1, chart.bars.size()));
  frame.x_labels_upward = labels.upward;
  const double zero = std::clamp(frame.y_to_pixel(0), area.top, area.bottom);
  for (std::size_t index = 0; index < chart.bars.size(); ++index) {
    const Bar& bar = chart.bars[index];
    const double room = labels.upward ? labels.band - 2 * type.gap : slot - type.gap;
    frame.x_ticks.push_back({index + 0.5, fit_text(bar.label, type.tick_text, room)});
    const std::string value_text = format_bar_value(bar.value);
    if (text_width(value_text, type.tick_text) > slot - 2) continue;
    const double center = area.left + (index + 0.5) * slot;
    if (!plottable(bar.value)) {
      frame.annotations.push_back({value_text, {center, zero - type.gap}, true});
    } else if (chart.show_values) {
      const double end = std::clamp(frame.y_to_pixel(bar.value), area.top, area.bottom);
      const bool up = bar.value >= 0;
      frame.annotations.push_back({value_text, {center, up ? end - type.gap : end + type.gap}, up});
    }
  }
  if (chart.bars.empty()) say_no_data(frame);
}

Frame bar_chart_frame(const BarChart& chart) {
  const std::string what = describe("bar chart", chart.title);
  check_chart_size(what, chart.width, chart.height);
  DataBounds bounds;
  bounds.add(0);
  bool any = false;
  for (const Bar& bar : chart.bars) {
    if (!plottable(bar.value)) continue;
    bounds.add(bar.value);
    any = true;
  }
  AxisRange y_range{0, 1, Scale::linear};
  if (any && bounds.high > bounds.low) {
    // Room above the highest bar (and below the lowest) for its value.
    const double span = bounds.high - bounds.low;
    y_range = {bounds.low < 0 ? bounds.low - 0.1 * span : 0, bounds.high > 0 ? bounds.high + 0.1 * span : 0,
               Scale::linear};
  }
  const AxisRange x_range{0, static_cast<double>(std::max<std::size_t>(1, chart.bars.size())), Scale::linear};
  const CategoryLabels labels = category_labels(chart, typography_for(chart.width, chart.height));
  Frame frame = lay_out_chart(chart.width, chart.height, {chart.title, chart.x_label, chart.y_label}, x_range,
                              y_range, labels.band);
  label_bars(chart, labels, frame);
  return frame;
}

// ---- Image grid ----

constexpr double kGridMargin = 16;
constexpr double kGridGap = 14;
constexpr double kCaptionText = 12;
constexpr double kGridTitleText = 16;

void validate(const GridImage& image, std::size_t index) {
  const std::string which = image.caption.empty()
                                ? fmt::format("image grid: image {}", index)
                                : fmt::format("image grid: image {} ('{}')", index, image.caption);
  if (image.channels != 1 && image.channels != 3) {
    throw_error(fmt::format("{} has {} channels; give 1 (grey) or 3 (red, green, blue)", which, image.channels));
  }
  if (image.height < 1 || image.width < 1 || image.height > 4096 || image.width > 4096) {
    throw_error(
        fmt::format("{} is {} x {} pixels; each side must be 1 to 4096", which, image.height, image.width));
  }
  const std::size_t expected = static_cast<std::size_t>(image.channels) * image.height * image.width;
  if (image.planes.size() != expected) {
    throw_error(fmt::format("{}: {} values do not make {} x {} x {} (channels x height x width); give {}", which,
                            image.planes.size(), image.channels, image.height, image.width, expected));
  }
}

}  // namespace

// ---- Public ----

Color series_color(std::size_t index) {
  static constexpr std::array<Color, 10> kPalette = {rgb(0x1f77b4), rgb(0xff7f0e), rgb(0x2ca02c), rgb(0xd62728),
                                                     rgb(0x9467bd), rgb(0x8c564b), rgb(0xe377c2), rgb(0x7f7f7f),
                                                     rgb(0xbcbd22), rgb(0x17becf)};
  return kPalette[index % kPalette.size()];
}

double Frame::x_to_pixel(double x_value) const {
  const double low = to_axis(x.min, x.scale);
  const double high = to_axis(x.max, x.scale);
  return plot_area.left + (to_axis(x_value, x.scale) - low) / (high - low) * plot_area.width();
}

double Frame::y_to_pixel(double y_value) const {
  const double low = to_axis(y.min, y.scale);
  const double high = to_axis(y.max, y.scale);
  return plot_area.bottom - (to_axis(y_value, y.scale) - low) / (high - low) * plot_area.height();
}

Frame layout(const LineChart& chart) {
  const std::string what = describe("line chart", chart.title);
  validate(chart, what);
  DataBounds x_bounds;
  DataBounds y_bounds;
  std::vector<LegendEntry> entries;
  for (std::size_t index = 0; index < chart.series.size(); ++index) {
    const Series& series = chart.series[index];
    bool has_data = false;
    for (std::size_t point = 0; point < series.x.size(); ++point) {
      if (!plottable(series.x[point]) || !plottable(series.y[point])) continue;
      const double x = to_axis(series.x[point], chart.x_axis.scale);
      const double y = to_axis(series.y[point], chart.y_axis.scale);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_bounds.add(x);
      y_bounds.add(y);
      has_data = true;
    }
    if (series.name.empty()) continue;
    entries.push_back({has_data ? series.name : series.name + " (no data)",
                       series.color.value_or(series_color(index)), legend_mark(series.style)});
  }
  const AxisRange x_range = resolve_range(what, "x", chart.x_axis, x_bounds, 0.03);
  const AxisRange y_range = resolve_range(what, "y", chart.y_axis, y_bounds, 0.05);
  const Relayout relayout = [&](const AxisRange& y) {
    return lay_out_chart(chart.width, chart.height, {chart.title, chart.x_axis.label, chart.y_axis.label}, x_range,
                         y);
  };
  Frame frame = relayout(y_range);
  const HiddenData hidden = [&](const Frame& candidate, const Rectangle& box) {
    return hidden_by(chart, candidate, box);
  };
  const double data_top =
      chart.y_axis.max || y_bounds.empty() ? std::numeric_limits<double>::quiet_NaN() : y_bounds.high;
  settle_legend(frame, std::move(entries), chart.legend, hidden, data_top, relayout);
  if (x_bounds.empty()) say_no_data(frame);
  return frame;
}

Bins bin(const Histogram& histogram) { return bin_samples(histogram, describe("histogram", histogram.title)); }

Frame layout(const Histogram& histogram) { return histogram_frame(histogram, bin(histogram)); }

Frame layout(const BarChart& chart) { return bar_chart_frame(chart); }

GridLayout layout(const ImageGrid& grid) {
  if (grid.columns < 0)
    throw_error(fmt::format("image grid: column count {} must be 0 (one row) or more", grid.columns));
  if (grid.zoom < 0 || grid.zoom > 64)
    throw_error(fmt::format("image grid: zoom {} must be 0 (automatic) to 64", grid.zoom));
  int largest_height = 1;
  int largest_width = 1;
  for (std::size_t index = 0; index < grid.images.size(); ++index) {
    validate(grid.images[index], index);
    largest_height = std::max(largest_height, grid.images[index].height);
    largest_width = std::max(largest_width, grid.images[index].width);
  }
  const int count = static_cast<int>(grid.images.size());
  const int columns = grid.columns == 0 ? std::max(1, count) : std::min(grid.columns, std::max(1, count));
  const int rows = std::max(1, (count + columns - 1) / columns);
  int zoom = grid.zoom;
  if (zoom == 0) zoom = std::max(1, static_cast<int>(std::lround(96.0 / std::max(largest_height, largest_width))));
  const int image_width = largest_width * zoom;
  const int image_height = largest_height * zoom;

  double widest_caption = 0;
  bool any_caption = false;
  for (const auto& image : grid.images) {
    widest_caption = std::max(widest_caption, text_width(image.caption, kCaptionText));
    any_caption = any_caption || !image.caption.empty();
  }
  // A caption may widen its column to twice the picture (at least 160 pixels); longer ones are shortened.
  const double caption_room = std::max(2.0 * image_width, 160.0);
  const double cell_width = std::ceil(std::max<double>(image_width, std::min(widest_caption + 6, caption_room)));
  const double caption_gap = 6;
  const double caption_height = any_caption ? std::ceil(caption_gap + line_height(kCaptionText) + 2) : 0;

  const double title_block = grid.title.empty() ? 0 : std::ceil(line_height(kGridTitleText) + 12);
  const double width = 2 * kGridMargin + columns * cell_width + (columns - 1) * kGridGap;
  const double height =
      2 * kGridMargin + title_block + rows * (image_height + caption_height) + (rows - 1) * kGridGap;
  const double min_width =
      grid.title.empty() ? 0 : std::min(text_width(grid.title, kGridTitleText) + 2 * kGridMargin, 1200.0);
  GridLayout result;
  result.width = static_cast<int>(std::ceil(std::max({width, min_width, 120.0})));
  result.height = static_cast<int>(std::ceil(std::max(height, 60.0)));
  if (result.width > kMaxPictureSide || result.height > kMaxPictureSide) {
    throw_error(fmt::format("image grid: {} x {} pixels is too large; lower the zoom ({}) or use more rows",
                            result.width, result.height, zoom));
  }
  result.title = fit_text(grid.title, kGridTitleText, result.width - 2 * kGridMargin);
  result.zoom = zoom;
  // Centred horizontally when the title made the picture wider than the grid.
  const double x_offset = std::floor((result.width - width) / 2);
  for (int index = 0; index < count; ++index) {
    const GridImage& image = grid.images[index];
    const int column = index % columns;
    const int row = index / columns;
    const double cell_left = x_offset + kGridMargin + column * (cell_width + kGridGap);
    const double cell_top = kGridMargin + title_block + row * (image_height + caption_height + kGridGap);
    // A smaller picture sits centred in the area of the largest; captions line up under that area.
    const double left = cell_left + std::floor((cell_width - image.width * zoom) / 2.0);
    const double top = cell_top + std::floor((image_height - image.height * zoom) / 2.0);
    result.image_origins.push_back({left, top});
    result.captions.push_back(fit_text(image.caption, kCaptionText, cell_width));
    result.caption_anchors.push_back({cell_left + cell_width / 2, cell_top + image_height + caption_gap});
  }
  return result;
}

namespace detail {

std::vector<HistogramBar> histogram_bars(const Histogram& histogram, const Bins& bins, const Frame& frame) {
  const Rectangle& area = frame.plot_area;
  const double bin_width = (bins.max - bins.min) / histogram.bins;
  const std::size_t sample_count = bins.heights.size();
  const double group = 0.84;  // side by side: the share of a bin its bars fill, leaving a gap between bins
  const double sub_width = bin_width * group / static_cast<double>(std::max<std::size_t>(1, sample_count));
  std::vector<HistogramBar> bars;
  for (std::size_t sample = 0; sample < sample_count; ++sample) {
    for (std::size_t bin = 0; bin < bins.heights[sample].size(); ++bin) {
      const double height = bins.heights[sample][bin];
      if (height <= 0) continue;
      double start = bins.min + bin * bin_width;
      double end = start + bin_width;
      if (histogram.layout == HistogramLayout::side_by_side) {
        start += bin_width * (1 - group) / 2 + sample * sub_width;
        end = start + sub_width;
      }
      bars.push_back({sample,
                      {frame.x_to_pixel(start), std::max(area.top, frame.y_to_pixel(height)),
                       frame.x_to_pixel(end), area.bottom}});
    }
  }
  return bars;
}

std::optional<Rectangle> bar_rectangle(const BarChart& chart, std::size_t index, const Frame& frame) {
  const double value = chart.bars.at(index).value;
  if (!plottable(value)) return std::nullopt;
  const Rectangle& area = frame.plot_area;
  const double slot = area.width() / static_cast<double>(chart.bars.size());
  const double center = area.left + (index + 0.5) * slot;
  // matplotlib's bars fill 0.8 of their slot.
  const double half = std::max(1.0, 0.4 * slot);
  const double zero = std::clamp(frame.y_to_pixel(0), area.top, area.bottom);
  const double end = std::clamp(frame.y_to_pixel(value), area.top, area.bottom);
  return Rectangle{center - half, std::min(end, zero), center + half, std::max(end, zero)};
}

bool segment_inside(Point from, Point to, const Rectangle& box, double& enter, double& leave) {
  const double dx = to.x - from.x;
  const double dy = to.y - from.y;
  enter = 0;
  leave = 1;
  auto edge = [&](double direction, double distance) {
    if (direction == 0) return distance >= 0;
    const double ratio = distance / direction;
    if (direction < 0) {
      if (ratio > leave) return false;
      enter = std::max(enter, ratio);
    } else {
      if (ratio < enter) return false;
      leave = std::min(leave, ratio);
    }
    return true;
  };
  return edge(-dx, from.x - box.left) && edge(dx, box.right - from.x) && edge(-dy, from.y - box.top) &&
         edge(dy, box.bottom - from.y);
}

}  // namespace detail
}  // namespace tapegrad::plot
