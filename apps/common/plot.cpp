#include "apps/common/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <functional>
#include <limits>

#include "apps/common/font.h"
#include "apps/common/png.h"
#include <tapegrad/core/error.h>

namespace tapegrad::plot {
namespace {

constexpr int kMaxCanvasSide = 16384;
// Beyond this, differences of values overflow; such values are treated like NaN.
constexpr double kLargestPlottable = 1e300;

constexpr Color kGridColor = rgb(0xe3e3e3);
constexpr Color kFrameColor = rgb(0x3c3c3c);
constexpr Color kTickTextColor = rgb(0x333333);
constexpr Color kLabelColor = rgb(0x1a1a1a);
constexpr Color kNoDataColor = rgb(0x8a8a8a);
constexpr Color kLegendBorderColor = rgb(0xcccccc);
constexpr Color kImageBorderColor = rgb(0xc8c8c8);

bool plottable(double value) { return std::isfinite(value) && std::abs(value) <= kLargestPlottable; }

std::string describe(const char* kind, const std::string& title) {
  return title.empty() ? std::string(kind) : fmt::format("{} '{}'", kind, title);
}

void check_chart_size(const std::string& what, int width, int height) {
  if (width < 240 || height < 160 || width > kMaxCanvasSide || height > kMaxCanvasSide) {
    throw_error(fmt::format("{}: size {} x {} is not supported; use 240 x 160 up to {} x {} pixels", what, width,
                            height, kMaxCanvasSide, kMaxCanvasSide));
  }
}

// ---- Anti-aliased coverage ----

// Liang-Barsky: shortens the segment to its part inside `box`; false when nothing is inside.
bool clip_segment(Point& from, Point& to, const Rectangle& box) {
  const double dx = to.x - from.x;
  const double dy = to.y - from.y;
  if (!std::isfinite(dx) || !std::isfinite(dy)) return false;
  double enter = 0;
  double leave = 1;
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
  if (!edge(-dx, from.x - box.left) || !edge(dx, box.right - from.x) || !edge(-dy, from.y - box.top) ||
      !edge(dy, box.bottom - from.y)) {
    return false;
  }
  const Point start{from.x + enter * dx, from.y + enter * dy};
  const Point end{from.x + leave * dx, from.y + leave * dy};
  from = start;
  to = end;
  return true;
}

bool finite_point(Point point) { return std::isfinite(point.x) && std::isfinite(point.y); }

// How much of each pixel of a region a shape covers, 0..1. Shapes combine by maximum, so the joints of a
// polyline and overlapping glyph strokes are not darkened twice; paint() then blends the whole shape at once.
class CoverageMask {
 public:
  CoverageMask(const Canvas& canvas, const Rectangle& region)
      : left_(clamp_index(std::floor(region.left), canvas.width())),
        top_(clamp_index(std::floor(region.top), canvas.height())),
        right_(clamp_index(std::ceil(region.right), canvas.width())),
        bottom_(clamp_index(std::ceil(region.bottom), canvas.height())) {
    right_ = std::max(right_, left_);
    bottom_ = std::max(bottom_, top_);
    coverage_.assign(static_cast<std::size_t>(right_ - left_) * (bottom_ - top_), 0.0f);
    forget_dirty();
  }

  // A stroke of the given half width with round ends: a pixel is covered by its centre's distance to the
  // segment, which gives anti-aliasing without supersampling.
  void add_segment(Point from, Point to, double half_width) {
    if (!finite_point(from) || !finite_point(to) || coverage_.empty()) return;
    const double reach = half_width + 0.5;
    const Rectangle bounds{left_ - reach - 1, top_ - reach - 1, right_ + reach + 1, bottom_ + reach + 1};
    if (!clip_segment(from, to, bounds)) return;
    // Walk the longer axis so that a long diagonal costs its length times its width, not its bounding box.
    const bool steep = std::abs(to.y - from.y) > std::abs(to.x - from.x);
    const double major_from = steep ? from.y : from.x;
    const double minor_from = steep ? from.x : from.y;
    const double major_delta = (steep ? to.y : to.x) - major_from;
    const double minor_delta = (steep ? to.x : to.y) - minor_from;
    const double length_squared = major_delta * major_delta + minor_delta * minor_delta;
    const int major_low = steep ? top_ : left_;
    const int major_high = steep ? bottom_ : right_;
    const int minor_low = steep ? left_ : top_;
    const int minor_high = steep ? right_ : bottom_;
    const int major_begin =
        std::max(major_low, static_cast<int>(std::floor(std::min(major_from, major_from + major_delta) - reach)));
    const int major_end = std::min(
        major_high - 1, static_cast<int>(std::floor(std::max(major_from, major_from + major_delta) + reach)));
    for (int major = major_begin; major <= major_end; ++major) {
      const double major_center = major + 0.5;
      double t_low = 0;
      double t_high = 1;
      if (major_delta != 0) {
        t_low = std::clamp((major_center - reach - major_from) / major_delta, 0.0, 1.0);
        t_high = std::clamp((major_center + reach - major_from) / major_delta, 0.0, 1.0);
      }
      const double minor_a = minor_from + t_low * minor_delta;
      const double minor_b = minor_from + t_high * minor_delta;
      const int minor_begin =
          std::max(minor_low, static_cast<int>(std::floor(std::min(minor_a, minor_b) - reach)));
      const int minor_end =
          std::min(minor_high - 1, static_cast<int>(std::floor(std::max(minor_a, minor_b) + reach)));
      for (int minor = minor_begin; minor <= minor_end; ++minor) {
        const double minor_center = minor + 0.5;
        double t = 0;
        if (length_squared > 0) {
          t = ((major_center - major_from) * major_delta + (minor_center - minor_from) * minor_delta) /
              length_squared;
          t = std::clamp(t, 0.0, 1.0);
        }
        const double major_offset = major_center - (major_from + t * major_delta);
        const double minor_offset = minor_center - (minor_from + t * minor_delta);
        const double amount = reach - std::sqrt(major_offset * major_offset + minor_offset * minor_offset);
        if (amount <= 0) continue;
        if (steep) {
          cover(minor, major, amount);
        } else {
          cover(major, minor, amount);
        }
      }
    }
  }

  void add_disk(Point center, double radius) { add_segment(center, center, radius); }

  // Consecutive finite points are joined; a point with no finite neighbour becomes a dot, so a series of one
  // point (or one between gaps) is still seen.
  void add_polyline(std::span<const Point> points, double half_width) {
    for (std::size_t index = 0; index < points.size(); ++index) {
      if (!finite_point(points[index])) continue;
      const bool joined_before = index > 0 && finite_point(points[index - 1]);
      const bool joined_after = index + 1 < points.size() && finite_point(points[index + 1]);
      if (joined_after) add_segment(points[index], points[index + 1], half_width);
      if (!joined_before && !joined_after) add_disk(points[index], half_width);
    }
  }

  // Blends `color` into the canvas by coverage times opacity, then clears the mask for the next shape.
  void paint(Canvas& canvas, Color color, double opacity = 1.0) {
    for (int y = dirty_top_; y < dirty_bottom_; ++y) {
      for (int x = dirty_left_; x < dirty_right_; ++x) {
        float& amount = at(x, y);
        if (amount > 0) canvas.blend_pixel(x, y, color, std::min(1.0f, amount) * opacity);
        amount = 0;
      }
    }
    forget_dirty();
  }

 private:
  static int clamp_index(double value, int limit) {
    if (!(value > 0)) return 0;
    return value >= limit ? limit : static_cast<int>(value);
  }

  float& at(int x, int y) {
    return coverage_[static_cast<std::size_t>(y - top_) * (right_ - left_) + (x - left_)];
  }

  void cover(int x, int y, double amount) {
    float& cell = at(x, y);
    cell = std::max(cell, static_cast<float>(std::min(amount, 1.0)));
    dirty_left_ = std::min(dirty_left_, x);
    dirty_right_ = std::max(dirty_right_, x + 1);
    dirty_top_ = std::min(dirty_top_, y);
    dirty_bottom_ = std::max(dirty_bottom_, y + 1);
  }

  void forget_dirty() {
    dirty_left_ = dirty_top_ = INT_MAX;
    dirty_right_ = dirty_bottom_ = INT_MIN;
  }

  int left_;
  int top_;
  int right_;
  int bottom_;
  std::vector<float> coverage_;
  int dirty_left_ = 0;
  int dirty_top_ = 0;
  int dirty_right_ = 0;
  int dirty_bottom_ = 0;
};

// A one-pixel line along pixel rows or columns, sharp at any position.
void draw_horizontal_rule(Canvas& canvas, double left, double right, int row, Color color) {
  canvas.fill_rectangle({left, static_cast<double>(row), right, row + 1.0}, color);
}

void draw_vertical_rule(Canvas& canvas, int column, double top, double bottom, Color color) {
  canvas.fill_rectangle({static_cast<double>(column), top, column + 1.0, bottom}, color);
}

void draw_outline(Canvas& canvas, const Rectangle& box, Color color) {
  draw_horizontal_rule(canvas, box.left, box.right, static_cast<int>(box.top), color);
  draw_horizontal_rule(canvas, box.left, box.right, static_cast<int>(box.bottom) - 1, color);
  draw_vertical_rule(canvas, static_cast<int>(box.left), box.top, box.bottom, color);
  draw_vertical_rule(canvas, static_cast<int>(box.right) - 1, box.top, box.bottom, color);
}

// Shortens text with "..." until it fits `max_width` pixels, a whole UTF-8 character at a time.
std::string fit_text(const std::string& text, double cap_height, double max_width) {
  if (text_width(text, cap_height) <= max_width) return text;
  std::string shortened = text;
  while (!shortened.empty()) {
    while (!shortened.empty() && (static_cast<unsigned char>(shortened.back()) & 0xc0) == 0x80) {
      shortened.pop_back();  // continuation bytes
    }
    if (!shortened.empty()) shortened.pop_back();  // the character's first byte
    if (text_width(shortened + "...", cap_height) <= max_width) return shortened + "...";
  }
  return "";
}

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
  std::vector<double> major;  // axis values
  std::vector<std::string> labels;
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
std::vector<std::string> format_linear_labels(const std::vector<double>& values, double step) {
  double largest = 0;
  for (double value : values) largest = std::max(largest, std::abs(value));
  std::vector<std::string> labels;
  const bool scientific = largest >= 1e6 || (largest > 0 && largest < 1e-3);
  const int step_exponent = static_cast<int>(std::floor(std::log10(step) + 1e-9));
  for (double value : values) {
    if (value == 0 && scientific) {
      labels.push_back("0");
    } else if (scientific) {
      const int digits = std::clamp(static_cast<int>(std::floor(std::log10(largest))) - step_exponent, 0, 6);
      labels.push_back(with_minus_sign(compact_exponent(fmt::format("{:.{}e}", value, digits))));
    } else {
      labels.push_back(with_minus_sign(fmt::format("{:.{}f}", value, std::clamp(-step_exponent, 0, 10))));
    }
  }
  return labels;
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
using LabelCheck = std::function<bool(const Ticks&, double spacing_pixels)>;

Ticks linear_ticks(const AxisRange& range, double length_pixels, double min_spacing_pixels,
                   const LabelCheck& fits) {
  const double span = range.max - range.min;
  const int max_count = std::max(2, static_cast<int>(length_pixels / min_spacing_pixels));
  double step = nice_step_at_least(span / max_count);
  Ticks ticks;
  for (int attempt = 0; attempt < 30; ++attempt) {
    ticks.major = multiples_in(range.min, range.max, step);
    ticks.labels = format_linear_labels(ticks.major, step);
    if (fits(ticks, step / span * length_pixels)) break;
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
        ticks.major.push_back(std::pow(10.0, exponent));
        ticks.labels.push_back(format_power_of_ten(exponent, plain));
      }
      if (ticks.major.size() >= 2 && fits(ticks, stride / (high - low) * length_pixels)) break;
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
          ticks.major.push_back(value);
          ticks.labels.push_back(with_minus_sign(compact_exponent(fmt::format("{:g}", value))));
        }
      }
    }
    if (ticks.major.size() >= 3) return ticks;
  }
  return ticks;
}

// ---- Chart frame: margins, axes, title ----

struct Typography {
  double scale = 1;
  double pad = 14;
  double gap = 5;
  double tick_length = 5;
  double tick_text = 9;
  double label_text = 10;
  double title_text = 12;
  double legend_text = 9;
};

// Text and spacing grow with the canvas, so a large figure does not end up with tiny labels.
Typography typography_for(int width, int height) {
  const double scale = std::clamp(std::min(width / 800.0, height / 500.0), 0.8, 3.0);
  Typography type;
  type.scale = scale;
  type.pad = std::round(14 * scale);
  type.gap = std::round(5 * scale);
  type.tick_length = std::round(5 * scale);
  type.tick_text = std::round(9 * scale);
  type.label_text = std::round(10 * scale);
  type.title_text = std::round(12.5 * scale);
  type.legend_text = std::round(9 * scale);
  return type;
}

constexpr double kDescentRatio = 0.3;  // the font's descent per cap height

enum class LegendMark { line, marker, line_and_marker, swatch };

struct LegendEntry {
  std::string text;
  Color color;
  LegendMark mark = LegendMark::line;
  double swatch_opacity = 1;  // a swatch shows the bars' fill
};

struct ChartGeometry {
  Frame frame;
  Typography type;
  Ticks x_ticks;
  Ticks y_ticks;
  std::string title;
  std::string x_label;
  std::string y_label;
  bool numeric_x = true;                    // false: the caller labels categories under the plot
  std::vector<LegendEntry> legend_entries;  // empty: no legend
  Rectangle legend_box;
};

struct ChartText {
  const std::string& title;
  const std::string& x_label;
  const std::string& y_label;
};

double widest_label(const Ticks& ticks, double cap_height) {
  double widest = 0;
  for (const auto& label : ticks.labels) widest = std::max(widest, text_width(label, cap_height));
  return widest;
}

Ticks axis_ticks(const AxisRange& range, double length_pixels, double min_spacing_pixels, const LabelCheck& fits) {
  return range.scale == Scale::log10 ? log_ticks(range, length_pixels, min_spacing_pixels, fits)
                                     : linear_ticks(range, length_pixels, min_spacing_pixels, fits);
}

// Margins come from what is written in them: title above; tick labels and axis labels below and to the left.
// `category_band` > 0 replaces the x tick labels by a band of that height for category names.
ChartGeometry lay_out_chart(int width, int height, ChartText text, AxisRange x_range, AxisRange y_range,
                            double category_band = 0) {
  ChartGeometry geometry;
  Typography& type = geometry.type;
  type = typography_for(width, height);
  geometry.numeric_x = category_band <= 0;
  const double tick_line = type.tick_text * (1 + kDescentRatio);
  const double label_line = type.label_text * (1 + kDescentRatio);

  const double title_block = text.title.empty() ? 0 : type.title_text * (1 + kDescentRatio) + 2 * type.gap;
  const double top = std::round(std::max(type.pad + title_block, type.pad + type.tick_text));
  const double x_band = geometry.numeric_x ? type.gap + tick_line : category_band;
  const double x_label_band = text.x_label.empty() ? 0 : 1.5 * type.gap + label_line;
  const double bottom = std::round(1 + type.tick_length + x_band + x_label_band + type.pad);
  const double plot_height = height - top - bottom;
  if (plot_height < 30)
    throw_error(fmt::format("chart of {} x {} pixels leaves no room to plot; make it taller", width, height));

  const double y_min_spacing = std::max(type.tick_text * 3.2, 45.0 * type.scale);
  geometry.y_ticks = axis_ticks(y_range, plot_height, y_min_spacing, [](const Ticks&, double) { return true; });
  const double y_label_band = text.y_label.empty() ? 0 : label_line + 2 * type.gap;
  double left =
      type.pad + y_label_band + widest_label(geometry.y_ticks, type.tick_text) + type.gap + type.tick_length + 1;
  left = std::round(std::min(left, 0.45 * width));

  const double x_min_spacing = 80 * type.scale;
  const double tick_gap = 3 * type.gap;
  const LabelCheck x_labels_fit = [&](const Ticks& ticks, double spacing) {
    return widest_label(ticks, type.tick_text) + tick_gap <= spacing;
  };
  double right = std::round(2 * type.pad);
  double plot_width = width - left - right;
  if (geometry.numeric_x) {
    geometry.x_ticks = axis_ticks(x_range, plot_width, x_min_spacing, x_labels_fit);
    // The label under the right end must not run off the canvas.
    const double overhang = widest_label(geometry.x_ticks, type.tick_text) / 2 + type.gap;
    if (overhang > right) {
      right = std::round(overhang);
      plot_width = width - left - right;
      geometry.x_ticks = axis_ticks(x_range, plot_width, x_min_spacing, x_labels_fit);
    }
  }
  if (plot_width < 30)
    throw_error(fmt::format("chart of {} x {} pixels leaves no room to plot; make it wider", width, height));

  geometry.frame.plot_area = {left, top, width - right, height - bottom};
  geometry.frame.x = x_range;
  geometry.frame.y = y_range;
  const double title_room = width - 2 * type.pad;
  geometry.title = fit_text(text.title, type.title_text, title_room);
  geometry.x_label = fit_text(text.x_label, type.label_text, width - 2 * type.pad);
  geometry.y_label = fit_text(text.y_label, type.label_text, plot_height + top + bottom - 2 * type.pad);
  return geometry;
}

int pixel_column(double x) { return static_cast<int>(std::floor(x)); }

// Grid, frame, ticks, tick labels, axis labels and title; the data goes on top of the grid afterwards.
void draw_chart_frame(Canvas& canvas, const ChartGeometry& geometry) {
  const Frame& frame = geometry.frame;
  const Rectangle& area = frame.plot_area;
  const Typography& type = geometry.type;
  const int left = static_cast<int>(area.left);
  const int right = static_cast<int>(area.right);
  const int top = static_cast<int>(area.top);
  const int bottom = static_cast<int>(area.bottom);

  TextStyle tick_style{.cap_height = type.tick_text, .color = kTickTextColor};
  // Grid lines that would touch the frame are left out; the frame is there already.
  if (geometry.numeric_x) {
    for (std::size_t index = 0; index < geometry.x_ticks.major.size(); ++index) {
      const int column = pixel_column(frame.x_to_pixel(geometry.x_ticks.major[index]));
      if (column > left && column < right - 1)
        draw_vertical_rule(canvas, column, area.top, area.bottom, kGridColor);
    }
  }
  for (double value : geometry.y_ticks.major) {
    const int row = pixel_column(frame.y_to_pixel(value));
    if (row > top && row < bottom - 1) draw_horizontal_rule(canvas, area.left, area.right, row, kGridColor);
  }
  draw_outline(canvas, {area.left - 1, area.top - 1, area.right + 1, area.bottom + 1}, kFrameColor);

  if (geometry.numeric_x) {
    tick_style.horizontal = HorizontalAlign::center;
    tick_style.vertical = VerticalAlign::top;
    const double label_top = bottom + 1 + type.tick_length + type.gap;
    for (std::size_t index = 0; index < geometry.x_ticks.major.size(); ++index) {
      const double x = frame.x_to_pixel(geometry.x_ticks.major[index]);
      const int column = std::clamp(pixel_column(x), left - 1, right);
      draw_vertical_rule(canvas, column, bottom + 1, bottom + 1 + type.tick_length, kFrameColor);
      canvas.draw_text(geometry.x_ticks.labels[index], {column + 0.5, label_top}, tick_style);
    }
    for (double value : geometry.x_ticks.minor) {
      const int column = std::clamp(pixel_column(frame.x_to_pixel(value)), left - 1, right);
      draw_vertical_rule(canvas, column, bottom + 1, bottom + 1 + std::round(type.tick_length * 0.6), kFrameColor);
    }
  }
  tick_style.horizontal = HorizontalAlign::right;
  tick_style.vertical = VerticalAlign::middle;
  for (std::size_t index = 0; index < geometry.y_ticks.major.size(); ++index) {
    const int row = std::clamp(pixel_column(frame.y_to_pixel(geometry.y_ticks.major[index])), top - 1, bottom);
    draw_horizontal_rule(canvas, left - 1 - type.tick_length, left - 1, row, kFrameColor);
    canvas.draw_text(geometry.y_ticks.labels[index], {left - 1 - type.tick_length - type.gap, row + 0.5},
                     tick_style);
  }
  for (double value : geometry.y_ticks.minor) {
    const int row = std::clamp(pixel_column(frame.y_to_pixel(value)), top - 1, bottom);
    draw_horizontal_rule(canvas, left - 1 - std::round(type.tick_length * 0.6), left - 1, row, kFrameColor);
  }

  const double center_x = (area.left + area.right) / 2;
  if (!geometry.title.empty()) {
    const double half = text_width(geometry.title, type.title_text) / 2;
    // Centred over the plot when it fits there, else over the canvas.
    const double title_x = std::clamp(center_x, type.pad + half, canvas.width() - type.pad - half);
    canvas.draw_text(geometry.title, {title_x, type.pad},
                     {.cap_height = type.title_text,
                      .color = kLabelColor,
                      .horizontal = HorizontalAlign::center,
                      .vertical = VerticalAlign::top});
  }
  if (!geometry.x_label.empty()) {
    const double half = text_width(geometry.x_label, type.label_text) / 2;
    const double label_x = std::clamp(center_x, type.pad + half, canvas.width() - type.pad - half);
    canvas.draw_text(geometry.x_label, {label_x, canvas.height() - type.pad},
                     {.cap_height = type.label_text,
                      .color = kLabelColor,
                      .horizontal = HorizontalAlign::center,
                      .vertical = VerticalAlign::bottom});
  }
  if (!geometry.y_label.empty()) {
    const double half = text_width(geometry.y_label, type.label_text) / 2;
    const double label_y =
        std::clamp((area.top + area.bottom) / 2, type.pad + half, canvas.height() - type.pad - half);
    canvas.draw_text(geometry.y_label, {type.pad, label_y},
                     {.cap_height = type.label_text,
                      .color = kLabelColor,
                      .horizontal = HorizontalAlign::center,
                      .vertical = VerticalAlign::top,
                      .direction = TextDirection::upward});
  }
}

void draw_no_data(Canvas& canvas, const Rectangle& area, const Typography& type) {
  canvas.draw_text("no data", {(area.left + area.right) / 2, (area.top + area.bottom) / 2},
                   {.cap_height = type.label_text * 1.2,
                    .color = kNoDataColor,
                    .horizontal = HorizontalAlign::center,
                    .vertical = VerticalAlign::middle});
}

// ---- Legend ----

struct LegendMetrics {
  double padding;
  double row_height;
  double sample_length;
  double text_gap;
};

LegendMetrics legend_metrics(const Typography& type) {
  return {std::round(8 * type.scale), std::round(type.legend_text * 2.1), std::round(26 * type.scale),
          std::round(8 * type.scale)};
}

// How much data a legend box would hide on a chart with this frame.
using HiddenData = std::function<double(const Frame&, const Rectangle&)>;
using Relayout = std::function<ChartGeometry(const AxisRange& y_range)>;

struct LegendChoice {
  Rectangle box;
  double hidden = 0;
};

Rectangle legend_corner_box(const std::vector<LegendEntry>& entries, const Typography& type, const Rectangle& area,
                            LegendPlace place) {
  const LegendMetrics metrics = legend_metrics(type);
  double widest = 0;
  for (const auto& entry : entries) widest = std::max(widest, text_width(entry.text, type.legend_text));
  const double box_width = std::ceil(2 * metrics.padding + metrics.sample_length + metrics.text_gap + widest);
  const double box_height = std::ceil(metrics.padding + entries.size() * metrics.row_height);
  const double inset = std::round(10 * type.scale);
  const bool at_right = place == LegendPlace::upper_right || place == LegendPlace::lower_right;
  const bool at_top = place == LegendPlace::upper_right || place == LegendPlace::upper_left;
  const double left = std::round(at_right ? area.right - inset - box_width : area.left + inset);
  const double top = std::round(at_top ? area.top + inset : area.bottom - inset - box_height);
  return {left, top, left + box_width, top + box_height};
}

// `best` takes the first corner, in reading order of preference, that hides the least data.
LegendChoice choose_legend_box(const std::vector<LegendEntry>& entries, const ChartGeometry& geometry,
                               LegendPlace place, const HiddenData& hidden) {
  const Rectangle& area = geometry.frame.plot_area;
  if (place != LegendPlace::best) return {legend_corner_box(entries, geometry.type, area, place), 0};
  LegendChoice chosen{{}, std::numeric_limits<double>::infinity()};
  for (LegendPlace corner :
       {LegendPlace::upper_right, LegendPlace::upper_left, LegendPlace::lower_right, LegendPlace::lower_left}) {
    const Rectangle box = legend_corner_box(entries, geometry.type, area, corner);
    const double score = hidden(geometry.frame, box);
    if (score < chosen.hidden) chosen = {box, score};
  }
  return chosen;
}

// Places the legend; when every corner would hide data and the top of the y axis follows the data, the axis
// is raised (by at most 40 percent) so that the legend fits above the highest point, as one would by hand.
// `data_top` is the highest y in axis units, or NaN when the axis top is fixed.
void settle_legend(ChartGeometry& geometry, std::vector<LegendEntry> entries, LegendPlace place,
                   const HiddenData& hidden, double data_top, const Relayout& relayout) {
  if (entries.empty() || place == LegendPlace::none) return;
  const LegendMetrics metrics = legend_metrics(geometry.type);
  const double max_text =
      std::max(40.0, 0.45 * geometry.frame.plot_area.width() - metrics.sample_length - 3 * metrics.padding);
  for (auto& entry : entries) entry.text = fit_text(entry.text, geometry.type.legend_text, max_text);
  LegendChoice choice = choose_legend_box(entries, geometry, place, hidden);
  if (place == LegendPlace::best && choice.hidden > 0 && std::isfinite(data_top)) {
    const Rectangle& area = geometry.frame.plot_area;
    const Rectangle top_box = legend_corner_box(entries, geometry.type, area, LegendPlace::upper_right);
    const double fraction = (top_box.bottom + std::round(8 * geometry.type.scale) - area.top) / area.height();
    const AxisRange& y = geometry.frame.y;
    const double low = to_axis(y.min, y.scale);
    const double high = (data_top - fraction * low) / (1 - fraction);
    if (fraction < 0.4 && high > to_axis(y.max, y.scale)) {
      AxisRange raised = y;
      raised.max = y.scale == Scale::log10 ? std::pow(10.0, high) : high;
      ChartGeometry taller = relayout(raised);
      const LegendChoice again = choose_legend_box(entries, taller, place, hidden);
      if (again.hidden < choice.hidden) {
        geometry = std::move(taller);
        choice = again;
      }
    }
  }
  geometry.legend_entries = std::move(entries);
  geometry.legend_box = choice.box;
}

void draw_legend(Canvas& canvas, const ChartGeometry& geometry, double line_width, double marker_radius) {
  const std::vector<LegendEntry>& entries = geometry.legend_entries;
  if (entries.empty()) return;
  const Typography& type = geometry.type;
  const Rectangle& box = geometry.legend_box;
  const LegendMetrics metrics = legend_metrics(type);
  canvas.fill_rectangle(box, white, 0.88);
  draw_outline(canvas, box, kLegendBorderColor);
  const TextStyle style{.cap_height = type.legend_text, .color = kLabelColor, .vertical = VerticalAlign::middle};
  for (std::size_t index = 0; index < entries.size(); ++index) {
    const LegendEntry& entry = entries[index];
    const double middle = std::floor(box.top + metrics.padding / 2 + (index + 0.5) * metrics.row_height) + 0.5;
    const double sample_left = box.left + metrics.padding;
    const double sample_right = sample_left + metrics.sample_length;
    if (entry.mark == LegendMark::swatch) {
      const double half = std::round(type.legend_text * 0.6);
      const Rectangle swatch{sample_left + 4, std::round(middle - half), sample_right - 4,
                             std::round(middle + half)};
      canvas.fill_rectangle(swatch, entry.color, entry.swatch_opacity);
      draw_outline(canvas, swatch, entry.color);
    }
    if (entry.mark == LegendMark::line || entry.mark == LegendMark::line_and_marker) {
      canvas.draw_line({sample_left, middle}, {sample_right, middle}, entry.color, line_width);
    }
    if (entry.mark == LegendMark::marker || entry.mark == LegendMark::line_and_marker) {
      canvas.fill_circle({(sample_left + sample_right) / 2, middle}, marker_radius, entry.color);
    }
    canvas.draw_text(entry.text, {sample_right + metrics.text_gap, middle}, style);
  }
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

ChartGeometry line_chart_geometry(const LineChart& chart) {
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
  ChartGeometry geometry = relayout(y_range);
  // The length of line under the box (with its width), plus a marker's width for each marker under it.
  const HiddenData hidden = [&](const Frame& frame, const Rectangle& box) {
    auto grown = [&](double by) {
      return Rectangle{box.left - by, box.top - by, box.right + by, box.bottom + by};
    };
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
          Point from = pixels[point];
          Point to = pixels[point + 1];
          if (clip_segment(from, to, line_box)) covered += 1 + std::hypot(to.x - from.x, to.y - from.y);
        } else if (inside(line_box, pixels[point])) {
          covered += 1;
        }
      }
    }
    return covered;
  };
  const double data_top =
      chart.y_axis.max || y_bounds.empty() ? std::numeric_limits<double>::quiet_NaN() : y_bounds.high;
  settle_legend(geometry, std::move(entries), chart.legend, hidden, data_top, relayout);
  return geometry;
}

// ---- Histogram ----

struct BinnedSamples {
  double low = 0;
  double high = 1;
  std::vector<std::vector<double>> heights;  // per sample, per bin
  std::vector<bool> has_data;                // per sample
};

BinnedSamples bin_samples(const Histogram& histogram, const std::string& what) {
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
  BinnedSamples binned;
  if (!bounds.empty()) {
    binned.low = bounds.low;
    binned.high = bounds.high;
  }
  if (histogram.min) binned.low = *histogram.min;
  if (histogram.max) binned.high = *histogram.max;
  if (!(binned.low < binned.high)) {
    const double half = std::max(std::abs(binned.low) * 0.05, 0.5);
    if (histogram.min) {
      binned.high = binned.low + 2 * half;
    } else if (histogram.max) {
      binned.low = binned.high - 2 * half;
    } else {
      binned.low -= half;
      binned.high += half;
    }
  }
  widen_to_least_span(binned.low, binned.high);
  const double bin_width = (binned.high - binned.low) / histogram.bins;
  for (const Sample& sample : histogram.samples) {
    std::vector<double> counts(static_cast<std::size_t>(histogram.bins), 0.0);
    double counted = 0;
    for (double value : sample.values) {
      if (!plottable(value) || value < binned.low || value > binned.high) continue;
      const auto bin = std::min(static_cast<std::size_t>((value - binned.low) / bin_width), counts.size() - 1);
      counts[bin] += 1;
      counted += 1;
    }
    if (histogram.height_kind == HistogramHeight::fraction && counted > 0) {
      for (double& count : counts) count /= counted;
    }
    binned.heights.push_back(std::move(counts));
    binned.has_data.push_back(counted > 0);
  }
  return binned;
}

struct HistogramBar {
  std::size_t sample = 0;
  Rectangle area;
};

// The bars in canvas pixels, clipped to the plot area, in drawing order.
std::vector<HistogramBar> histogram_bars(const Histogram& histogram, const BinnedSamples& binned,
                                         const Frame& frame) {
  const Rectangle& area = frame.plot_area;
  const double bin_width = (binned.high - binned.low) / histogram.bins;
  const std::size_t sample_count = binned.heights.size();
  const double group = 0.84;  // side by side: the share of a bin its bars fill, leaving a gap between bins
  const double sub_width = bin_width * group / static_cast<double>(std::max<std::size_t>(1, sample_count));
  std::vector<HistogramBar> bars;
  for (std::size_t sample = 0; sample < sample_count; ++sample) {
    for (std::size_t bin = 0; bin < binned.heights[sample].size(); ++bin) {
      const double height = binned.heights[sample][bin];
      if (height <= 0) continue;
      double start = binned.low + bin * bin_width;
      double end = start + bin_width;
      if (histogram.layout == HistogramLayout::side_by_side) {
        start += bin_width * (1 - group) / 2 + sample * sub_width;
        end = start + sub_width;
      }
      const Rectangle bar{frame.x_to_pixel(start), std::max(area.top, frame.y_to_pixel(height)),
                          frame.x_to_pixel(end), area.bottom};
      bars.push_back({sample, bar});
    }
  }
  return bars;
}

ChartGeometry histogram_geometry(const Histogram& histogram, const BinnedSamples& binned) {
  double tallest = 0;
  for (const auto& heights : binned.heights) {
    for (double height : heights) tallest = std::max(tallest, height);
  }
  const double span = binned.high - binned.low;
  const AxisRange x_range{binned.low - 0.02 * span, binned.high + 0.02 * span, Scale::linear};
  const AxisRange y_range{0, tallest > 0 ? tallest * 1.06 : 1, Scale::linear};
  const std::string y_label = !histogram.y_label.empty()                           ? histogram.y_label
                              : histogram.height_kind == HistogramHeight::fraction ? "fraction"
                                                                                   : "count";
  const Relayout relayout = [&](const AxisRange& y) {
    return lay_out_chart(histogram.width, histogram.height, {histogram.title, histogram.x_label, y_label}, x_range,
                         y);
  };
  ChartGeometry geometry = relayout(y_range);
  std::vector<LegendEntry> entries;
  const bool overlaid = histogram.layout == HistogramLayout::overlaid;
  for (std::size_t sample = 0; sample < histogram.samples.size(); ++sample) {
    const Sample& source = histogram.samples[sample];
    if (source.name.empty()) continue;
    entries.push_back({binned.has_data[sample] ? source.name : source.name + " (no data)",
                       source.color.value_or(series_color(sample)), LegendMark::swatch,
                       overlaid ? histogram.fill_opacity : 1.0});
  }
  const HiddenData hidden = [&](const Frame& frame, const Rectangle& box) {
    double covered = 0;
    for (const HistogramBar& bar : histogram_bars(histogram, binned, frame)) {
      const double overlap_x = std::min(bar.area.right, box.right) - std::max(bar.area.left, box.left);
      const double overlap_y = std::min(bar.area.bottom, box.bottom) - std::max(bar.area.top, box.top);
      if (overlap_x > 0 && overlap_y > 0) covered += overlap_x * overlap_y;
    }
    return covered;
  };
  const double data_top = tallest > 0 ? tallest : std::numeric_limits<double>::quiet_NaN();
  settle_legend(geometry, std::move(entries), histogram.legend, hidden, data_top, relayout);
  return geometry;
}

// ---- Bar chart ----

struct CategoryLabels {
  bool upward = false;
  double band = 0;
};

CategoryLabels category_labels(const BarChart& chart, const Typography& type) {
  double widest = 0;
  for (const Bar& bar : chart.bars) widest = std::max(widest, text_width(bar.label, type.tick_text));
  const double estimated_slot = 0.8 * chart.width / std::max<std::size_t>(1, chart.bars.size());
  CategoryLabels labels;
  if (widest <= estimated_slot - 2 * type.gap) {
    labels.band = type.gap + type.tick_text * (1 + kDescentRatio);
  } else {
    labels.upward = true;
    labels.band = type.gap + std::min(widest, 0.3 * chart.height) + type.gap;
  }
  return labels;
}

ChartGeometry bar_chart_geometry(const BarChart& chart, CategoryLabels* labels_out = nullptr) {
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
    const double span = bounds.high - bounds.low;
    y_range = {bounds.low < 0 ? bounds.low - 0.1 * span : 0, bounds.high > 0 ? bounds.high + 0.1 * span : 0,
               Scale::linear};
  }
  const AxisRange x_range{0, static_cast<double>(std::max<std::size_t>(1, chart.bars.size())), Scale::linear};
  const CategoryLabels labels = category_labels(chart, typography_for(chart.width, chart.height));
  if (labels_out != nullptr) *labels_out = labels;
  return lay_out_chart(chart.width, chart.height, {chart.title, chart.x_label, chart.y_label}, x_range, y_range,
                       labels.band);
}

std::string format_bar_value(double value) {
  if (!plottable(value)) return "n/a";
  const double magnitude = std::abs(value);
  if (magnitude != 0 && (magnitude >= 1e6 || magnitude < 1e-3)) {
    return with_minus_sign(compact_exponent(fmt::format("{:.3g}", value)));
  }
  return with_minus_sign(fmt::format("{:.4g}", value));
}

// ---- Image grid ----

struct GridPlan {
  GridLayout layout;
  int columns = 1;
  int cell_width = 0;  // image area plus room for the caption
  int image_width = 0;
  int image_height = 0;
  double margin = 16;
  double caption_cap = 9;
  double title_cap = 12.5;
  double caption_height = 0;
  std::vector<std::string> captions;
  std::string title;
};

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

GridPlan plan_grid(const ImageGrid& grid) {
  if (grid.columns < 0)
    throw_error(fmt::format("image grid: column count {} must be 0 (one row) or more", grid.columns));
  if (grid.zoom < 0 || grid.zoom > 64)
    throw_error(fmt::format("image grid: zoom {} must be 0 (automatic) to 64", grid.zoom));
  GridPlan plan;
  int largest_height = 1;
  int largest_width = 1;
  for (std::size_t index = 0; index < grid.images.size(); ++index) {
    validate(grid.images[index], index);
    largest_height = std::max(largest_height, grid.images[index].height);
    largest_width = std::max(largest_width, grid.images[index].width);
  }
  const int count = static_cast<int>(grid.images.size());
  plan.columns = grid.columns == 0 ? std::max(1, count) : std::min(grid.columns, std::max(1, count));
  const int rows = std::max(1, (count + plan.columns - 1) / plan.columns);
  int zoom = grid.zoom;
  if (zoom == 0) zoom = std::max(1, static_cast<int>(std::lround(96.0 / std::max(largest_height, largest_width))));
  plan.image_width = largest_width * zoom;
  plan.image_height = largest_height * zoom;

  double widest_caption = 0;
  bool any_caption = false;
  for (const auto& image : grid.images) {
    widest_caption = std::max(widest_caption, text_width(image.caption, plan.caption_cap));
    any_caption = any_caption || !image.caption.empty();
  }
  // A caption may widen its column to twice the picture (at least 160 pixels); longer ones are shortened.
  const double caption_room = std::max(2.0 * plan.image_width, 160.0);
  plan.cell_width =
      static_cast<int>(std::ceil(std::max<double>(plan.image_width, std::min(widest_caption + 6, caption_room))));
  plan.caption_height = any_caption ? std::ceil(plan.caption_cap * (1 + kDescentRatio) + 8) : 0;
  for (const auto& image : grid.images)
    plan.captions.push_back(fit_text(image.caption, plan.caption_cap, plan.cell_width));

  const double gap = 14;
  const double title_block = grid.title.empty() ? 0 : std::ceil(plan.title_cap * (1 + kDescentRatio) + 12);
  const double width = 2 * plan.margin + plan.columns * plan.cell_width + (plan.columns - 1) * gap;
  const double height =
      2 * plan.margin + title_block + rows * (plan.image_height + plan.caption_height) + (rows - 1) * gap;
  plan.title = grid.title;
  const double min_width =
      grid.title.empty() ? 0 : std::min(text_width(grid.title, plan.title_cap) + 2 * plan.margin, 1200.0);
  plan.layout.width = static_cast<int>(std::ceil(std::max({width, min_width, 120.0})));
  plan.layout.height = static_cast<int>(std::ceil(std::max(height, 60.0)));
  if (plan.layout.width > kMaxCanvasSide || plan.layout.height > kMaxCanvasSide) {
    throw_error(fmt::format("image grid: {} x {} pixels is too large; lower the zoom ({}) or use more rows",
                            plan.layout.width, plan.layout.height, zoom));
  }
  plan.title = fit_text(grid.title, plan.title_cap, plan.layout.width - 2 * plan.margin);
  plan.layout.zoom = zoom;
  // Centred horizontally when the title made the canvas wider than the grid.
  const double x_offset = std::floor((plan.layout.width - width) / 2);
  for (int index = 0; index < count; ++index) {
    const GridImage& image = grid.images[index];
    const int column = index % plan.columns;
    const int row = index / plan.columns;
    const double cell_left = x_offset + plan.margin + column * (plan.cell_width + gap);
    const double cell_top = plan.margin + title_block + row * (plan.image_height + plan.caption_height + gap);
    // A smaller picture sits centred in the area of the largest.
    const double left = cell_left + std::floor((plan.cell_width - image.width * zoom) / 2.0);
    const double top = cell_top + std::floor((plan.image_height - image.height * zoom) / 2.0);
    plan.layout.image_origins.push_back({left, top});
  }
  return plan;
}

void draw_grid_image(Canvas& canvas, const GridImage& image, Point origin, int zoom) {
  float low = std::numeric_limits<float>::infinity();
  float high = -std::numeric_limits<float>::infinity();
  for (float value : image.planes) {
    if (!std::isfinite(value)) continue;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  const double range = static_cast<double>(high) - low;
  const std::size_t plane_size = static_cast<std::size_t>(image.height) * image.width;
  auto level = [&](float value) -> std::uint8_t {
    if (!std::isfinite(value) || !(range > 0)) return 128;
    return static_cast<std::uint8_t>(std::lround((static_cast<double>(value) - low) / range * 255.0));
  };
  const int left = static_cast<int>(origin.x);
  const int top = static_cast<int>(origin.y);
  draw_outline(canvas, {left - 1.0, top - 1.0, left + image.width * zoom + 1.0, top + image.height * zoom + 1.0},
               kImageBorderColor);
  for (int row = 0; row < image.height; ++row) {
    for (int column = 0; column < image.width; ++column) {
      const std::size_t offset = static_cast<std::size_t>(row) * image.width + column;
      Color color;
      if (image.channels == 3) {
        color = {level(image.planes[offset]), level(image.planes[plane_size + offset]),
                 level(image.planes[2 * plane_size + offset])};
      } else {
        const std::uint8_t grey = level(image.planes[offset]);
        color = {grey, grey, grey};
      }
      canvas.fill_rectangle(
          {static_cast<double>(left + column * zoom), static_cast<double>(top + row * zoom),
           static_cast<double>(left + (column + 1) * zoom), static_cast<double>(top + (row + 1) * zoom)},
          color);
    }
  }
}

}  // namespace

// ---- Public: colours, canvas ----

Color series_color(std::size_t index) {
  static constexpr std::array<Color, 10> kPalette = {rgb(0x1f77b4), rgb(0xff7f0e), rgb(0x2ca02c), rgb(0xd62728),
                                                     rgb(0x9467bd), rgb(0x8c564b), rgb(0xe377c2), rgb(0x7f7f7f),
                                                     rgb(0xbcbd22), rgb(0x17becf)};
  return kPalette[index % kPalette.size()];
}

double text_width(std::string_view text, double cap_height) { return measure_text(text, cap_height).width; }

Canvas::Canvas(int width, int height, Color background) : width_(width), height_(height) {
  if (width < 1 || height < 1 || width > kMaxCanvasSide || height > kMaxCanvasSide) {
    throw_error(fmt::format("canvas size {} x {} is not supported; each side must be 1 to {} pixels", width,
                            height, kMaxCanvasSide));
  }
  bytes_.resize(static_cast<std::size_t>(width) * height * 3);
  for (std::size_t offset = 0; offset < bytes_.size(); offset += 3) {
    bytes_[offset] = background.red;
    bytes_[offset + 1] = background.green;
    bytes_[offset + 2] = background.blue;
  }
}

Color Canvas::pixel(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) {
    throw_error(fmt::format("pixel ({}, {}) is outside the {} x {} canvas", x, y, width_, height_));
  }
  const std::size_t offset = (static_cast<std::size_t>(y) * width_ + x) * 3;
  return {bytes_[offset], bytes_[offset + 1], bytes_[offset + 2]};
}

void Canvas::set_pixel(int x, int y, Color color) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) {
    throw_error(fmt::format("pixel ({}, {}) is outside the {} x {} canvas", x, y, width_, height_));
  }
  const std::size_t offset = (static_cast<std::size_t>(y) * width_ + x) * 3;
  bytes_[offset] = color.red;
  bytes_[offset + 1] = color.green;
  bytes_[offset + 2] = color.blue;
}

void Canvas::blend_pixel(int x, int y, Color color, double opacity) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_ || !(opacity > 0)) return;
  std::uint8_t* target = &bytes_[(static_cast<std::size_t>(y) * width_ + x) * 3];
  if (opacity >= 1) {
    target[0] = color.red;
    target[1] = color.green;
    target[2] = color.blue;
    return;
  }
  auto mix = [opacity](std::uint8_t old_value, std::uint8_t new_value) {
    return static_cast<std::uint8_t>(std::lround(old_value + (new_value - old_value) * opacity));
  };
  target[0] = mix(target[0], color.red);
  target[1] = mix(target[1], color.green);
  target[2] = mix(target[2], color.blue);
}

void Canvas::fill_rectangle(const Rectangle& area, Color color, double opacity) {
  if (!std::isfinite(area.left) || !std::isfinite(area.right) || !std::isfinite(area.top) ||
      !std::isfinite(area.bottom)) {
    return;
  }
  const double left = std::max(0.0, std::min(area.left, area.right));
  const double right = std::min<double>(width_, std::max(area.left, area.right));
  const double top = std::max(0.0, std::min(area.top, area.bottom));
  const double bottom = std::min<double>(height_, std::max(area.top, area.bottom));
  if (!(left < right) || !(top < bottom)) return;
  for (int y = static_cast<int>(top); y < bottom; ++y) {
    const double y_cover = std::min(y + 1.0, bottom) - std::max<double>(y, top);
    for (int x = static_cast<int>(left); x < right; ++x) {
      const double x_cover = std::min(x + 1.0, right) - std::max<double>(x, left);
      blend_pixel(x, y, color, x_cover * y_cover * opacity);
    }
  }
}

void Canvas::draw_line(Point from, Point to, Color color, double line_width) {
  const Point points[] = {from, to};
  draw_polyline(points, color, line_width);
}

void Canvas::draw_polyline(std::span<const Point> points, Color color, double line_width) {
  if (!(line_width > 0)) return;
  // The mask covers only the points' bounds (within the canvas), so a short line costs little.
  Rectangle bounds{static_cast<double>(width_), static_cast<double>(height_), 0, 0};
  for (const Point& point : points) {
    if (!finite_point(point)) continue;
    bounds = {std::min(bounds.left, point.x), std::min(bounds.top, point.y), std::max(bounds.right, point.x),
              std::max(bounds.bottom, point.y)};
  }
  const double reach = line_width / 2 + 1;
  CoverageMask mask(*this, {bounds.left - reach, bounds.top - reach, bounds.right + reach, bounds.bottom + reach});
  mask.add_polyline(points, line_width / 2);
  mask.paint(*this, color);
}

void Canvas::fill_circle(Point center, double radius, Color color) {
  if (!(radius > 0) || !finite_point(center)) return;
  CoverageMask mask(*this,
                    {center.x - radius - 2, center.y - radius - 2, center.x + radius + 2, center.y + radius + 2});
  mask.add_disk(center, radius);
  mask.paint(*this, color);
}

void Canvas::draw_text(std::string_view text, Point anchor, const TextStyle& style) {
  if (text.empty() || !finite_point(anchor)) return;
  if (!(style.cap_height > 0 && style.cap_height <= 1000)) {
    throw_error(fmt::format("text cap height {} must be in (0, 1000] pixels", style.cap_height));
  }
  const TextMetrics metrics = measure_text(text, style.cap_height);
  double along = 0;  // from the anchor to the start of the baseline, in reading direction
  if (style.horizontal == HorizontalAlign::center) along = -metrics.width / 2;
  if (style.horizontal == HorizontalAlign::right) along = -metrics.width;
  double below = 0;  // from the anchor down to the baseline, in the text's own frame
  if (style.vertical == VerticalAlign::top) below = metrics.ascent;
  if (style.vertical == VerticalAlign::middle) below = metrics.ascent / 2;
  if (style.vertical == VerticalAlign::bottom) below = -metrics.descent;
  const bool upward = style.direction == TextDirection::upward;
  const Point origin =
      upward ? Point{anchor.x + below, anchor.y - along} : Point{anchor.x + along, anchor.y + below};
  const auto strokes = text_strokes(text, style.cap_height, origin, style.direction);
  Rectangle bounds{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  for (const auto& stroke : strokes) {
    for (const Point& point : stroke) {
      bounds = {std::min(bounds.left, point.x), std::min(bounds.top, point.y), std::max(bounds.right, point.x),
                std::max(bounds.bottom, point.y)};
    }
  }
  if (!(bounds.left <= bounds.right)) return;
  const double reach = metrics.pen_width / 2 + 1;
  CoverageMask mask(*this, {bounds.left - reach, bounds.top - reach, bounds.right + reach, bounds.bottom + reach});
  for (const auto& stroke : strokes) mask.add_polyline(stroke, metrics.pen_width / 2);
  mask.paint(*this, style.color);
}

void Canvas::write_png(const std::filesystem::path& path) const { write_png_file(path, width_, height_, bytes_); }

// ---- Public: frames ----

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

// ---- Public: line chart ----

Frame layout(const LineChart& chart) { return line_chart_geometry(chart).frame; }

Canvas render(const LineChart& chart) {
  const ChartGeometry geometry = line_chart_geometry(chart);
  const Frame& frame = geometry.frame;
  Canvas canvas(chart.width, chart.height);
  draw_chart_frame(canvas, geometry);
  // One mask per series: its line and markers blend once, and nothing spills out of the plot area.
  CoverageMask mask(canvas, frame.plot_area);
  bool any_data = false;
  for (std::size_t index = 0; index < chart.series.size(); ++index) {
    const Series& series = chart.series[index];
    const std::vector<Point> pixels = series_pixels(series, frame);
    any_data = any_data || std::any_of(pixels.begin(), pixels.end(), finite_point);
    if (series.style != SeriesStyle::markers) mask.add_polyline(pixels, chart.line_width / 2);
    if (series.style != SeriesStyle::line) {
      for (const Point& point : pixels) mask.add_disk(point, chart.marker_radius);
    }
    mask.paint(canvas, series.color.value_or(series_color(index)));
  }
  if (!any_data) draw_no_data(canvas, frame.plot_area, geometry.type);
  draw_legend(canvas, geometry, chart.line_width, chart.marker_radius);
  return canvas;
}

// ---- Public: histogram ----

Frame layout(const Histogram& histogram) {
  const BinnedSamples binned = bin_samples(histogram, describe("histogram", histogram.title));
  return histogram_geometry(histogram, binned).frame;
}

Canvas render(const Histogram& histogram) {
  const BinnedSamples binned = bin_samples(histogram, describe("histogram", histogram.title));
  const ChartGeometry geometry = histogram_geometry(histogram, binned);
  const Frame& frame = geometry.frame;
  const Rectangle& area = frame.plot_area;
  Canvas canvas(histogram.width, histogram.height);
  draw_chart_frame(canvas, geometry);
  const bool overlaid = histogram.layout == HistogramLayout::overlaid;
  for (const HistogramBar& bar : histogram_bars(histogram, binned, frame)) {
    const Color color = histogram.samples[bar.sample].color.value_or(series_color(bar.sample));
    canvas.fill_rectangle(bar.area, color, overlaid ? histogram.fill_opacity : 1.0);
  }
  if (overlaid) {
    // Each sample's outline as one step line over its bins, so overlapping fills stay readable.
    const double bin_width = (binned.high - binned.low) / histogram.bins;
    const double outline_width = std::max(2.0, std::round(2 * geometry.type.scale));
    CoverageMask mask(canvas, area);
    for (std::size_t sample = 0; sample < binned.heights.size(); ++sample) {
      if (!binned.has_data[sample]) continue;
      std::vector<Point> outline{{frame.x_to_pixel(binned.low), area.bottom}};
      for (std::size_t bin = 0; bin < binned.heights[sample].size(); ++bin) {
        const double top = std::max(area.top, frame.y_to_pixel(binned.heights[sample][bin]));
        outline.push_back({frame.x_to_pixel(binned.low + bin * bin_width), top});
        outline.push_back({frame.x_to_pixel(binned.low + (bin + 1) * bin_width), top});
      }
      outline.push_back({frame.x_to_pixel(binned.high), area.bottom});
      mask.add_polyline(outline, outline_width / 2);
      mask.paint(canvas, histogram.samples[sample].color.value_or(series_color(sample)));
    }
  }
  const bool any_data = std::any_of(binned.has_data.begin(), binned.has_data.end(), [](bool has) { return has; });
  if (!any_data) draw_no_data(canvas, area, geometry.type);
  draw_legend(canvas, geometry, 2, 3);
  return canvas;
}

// ---- Public: bar chart ----

Frame layout(const BarChart& chart) { return bar_chart_geometry(chart).frame; }

Canvas render(const BarChart& chart) {
  CategoryLabels labels;
  const ChartGeometry geometry = bar_chart_geometry(chart, &labels);
  const Frame& frame = geometry.frame;
  const Rectangle& area = frame.plot_area;
  const Typography& type = geometry.type;
  Canvas canvas(chart.width, chart.height);
  draw_chart_frame(canvas, geometry);
  const Color color = chart.color.value_or(series_color(0));
  const double zero = std::clamp(frame.y_to_pixel(0), area.top, area.bottom);
  const double slot = area.width() / std::max<std::size_t>(1, chart.bars.size());
  const TextStyle value_style{
      .cap_height = type.tick_text, .color = kTickTextColor, .horizontal = HorizontalAlign::center};
  TextStyle label_style{.cap_height = type.tick_text, .color = kTickTextColor};
  const double label_start = area.bottom + 1 + type.gap;
  for (std::size_t index = 0; index < chart.bars.size(); ++index) {
    const Bar& bar = chart.bars[index];
    const double center = area.left + (index + 0.5) * slot;
    const int column = pixel_column(center);
    draw_vertical_rule(canvas, column, area.bottom + 1, area.bottom + 1 + type.tick_length, kFrameColor);
    if (labels.upward) {
      label_style.direction = TextDirection::upward;
      label_style.horizontal = HorizontalAlign::right;
      label_style.vertical = VerticalAlign::middle;
      canvas.draw_text(fit_text(bar.label, type.tick_text, labels.band - 2 * type.gap),
                       {column + 0.5, label_start + type.tick_length}, label_style);
    } else {
      label_style.horizontal = HorizontalAlign::center;
      label_style.vertical = VerticalAlign::top;
      canvas.draw_text(fit_text(bar.label, type.tick_text, slot - type.gap),
                       {column + 0.5, label_start + type.tick_length}, label_style);
    }
    const std::string value_text = format_bar_value(bar.value);
    const bool fits = text_width(value_text, type.tick_text) <= slot - 2;
    if (!plottable(bar.value)) {
      if (fits) canvas.draw_text(value_text, {center, zero - type.gap}, value_style);
      continue;
    }
    const double end = std::clamp(frame.y_to_pixel(bar.value), area.top, area.bottom);
    const double half = std::max(1.0, std::round(slot * 0.35));
    canvas.fill_rectangle(
        {std::round(center - half), std::min(end, zero), std::round(center + half), std::max(end, zero)}, color);
    if (chart.show_values && fits) {
      TextStyle style = value_style;
      style.vertical = bar.value >= 0 ? VerticalAlign::bottom : VerticalAlign::top;
      canvas.draw_text(value_text, {center, bar.value >= 0 ? end - type.gap : end + type.gap}, style);
    }
  }
  if (chart.bars.empty()) draw_no_data(canvas, area, type);
  // The zero line, so negative bars read against it.
  if (frame.y.min < 0) draw_horizontal_rule(canvas, area.left, area.right, pixel_column(zero), kFrameColor);
  return canvas;
}

// ---- Public: image grid ----

GridLayout layout(const ImageGrid& grid) { return plan_grid(grid).layout; }

Canvas render(const ImageGrid& grid) {
  const GridPlan plan = plan_grid(grid);
  Canvas canvas(plan.layout.width, plan.layout.height);
  if (!plan.title.empty()) {
    canvas.draw_text(plan.title, {plan.layout.width / 2.0, plan.margin},
                     {.cap_height = plan.title_cap,
                      .color = kLabelColor,
                      .horizontal = HorizontalAlign::center,
                      .vertical = VerticalAlign::top});
  }
  if (grid.images.empty()) {
    canvas.draw_text("no data", {plan.layout.width / 2.0, plan.layout.height / 2.0 + plan.margin / 2},
                     {.cap_height = 12,
                      .color = kNoDataColor,
                      .horizontal = HorizontalAlign::center,
                      .vertical = VerticalAlign::middle});
    return canvas;
  }
  const TextStyle caption_style{.cap_height = plan.caption_cap,
                                .color = kLabelColor,
                                .horizontal = HorizontalAlign::center,
                                .vertical = VerticalAlign::top};
  for (std::size_t index = 0; index < grid.images.size(); ++index) {
    const GridImage& image = grid.images[index];
    const Point origin = plan.layout.image_origins[index];
    draw_grid_image(canvas, image, origin, plan.layout.zoom);
    if (plan.captions[index].empty()) continue;
    // Captions line up under the largest picture's area, whatever this picture's size.
    const double image_area_bottom =
        origin.y - std::floor((plan.image_height - image.height * plan.layout.zoom) / 2.0) + plan.image_height;
    canvas.draw_text(plan.captions[index],
                     {origin.x + image.width * plan.layout.zoom / 2.0, image_area_bottom + 7}, caption_style);
  }
  return canvas;
}

// ---- Public: save ----

void save(const LineChart& chart, const std::filesystem::path& path) { render(chart).write_png(path); }
void save(const Histogram& histogram, const std::filesystem::path& path) { render(histogram).write_png(path); }
void save(const BarChart& chart, const std::filesystem::path& path) { render(chart).write_png(path); }
void save(const ImageGrid& grid, const std::filesystem::path& path) { render(grid).write_png(path); }

}  // namespace tapegrad::plot
