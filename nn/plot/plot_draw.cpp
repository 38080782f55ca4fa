// Drawing the laid-out charts with cairo and writing them as PNG or SVG. Everything about where things go is
// decided in plot.cpp; this file only turns a Frame or a GridLayout into paths, fills and text.
#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>
#include <tapegrad/core/atomic_file.h>
#include <tapegrad/core/error.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <string>

#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/nn/plot/plot_detail.h>

namespace tapegrad::plot {
namespace {

using detail::cap_height;
using detail::descent;
using detail::text_width;
using detail::Typography;
using detail::typography_for;
using detail::use_font;

constexpr Color kGridColor = rgb(0xe5e5e5);
constexpr Color kFrameColor = rgb(0x262626);
constexpr Color kTickTextColor = rgb(0x262626);
constexpr Color kLabelColor = rgb(0x000000);
constexpr Color kNoDataColor = rgb(0x8a8a8a);
constexpr Color kLegendBorderColor = rgb(0xcccccc);
constexpr Color kImageBorderColor = rgb(0xc8c8c8);

void set_color(cairo_t* cairo, Color color, double opacity = 1.0) {
  cairo_set_source_rgba(cairo, color.red / 255.0, color.green / 255.0, color.blue / 255.0, opacity);
}

// ---- Text ----

enum class Horizontal { left, center, right };
// top: top of the digits and capitals; middle: half their height; bottom: the lowest descender.
enum class Vertical { top, middle, baseline, bottom };

struct TextStyle {
  double size = 13;
  Color color = kTickTextColor;
  Horizontal horizontal = Horizontal::left;
  Vertical vertical = Vertical::baseline;
  bool upward = false;  // turned a quarter left, read from bottom to top (a y axis label)
};

void draw_text(cairo_t* cairo, const std::string& text, Point anchor, const TextStyle& style) {
  if (text.empty() || !std::isfinite(anchor.x) || !std::isfinite(anchor.y)) return;
  const double width = text_width(text, style.size);
  double along = 0;  // from the anchor to the start of the baseline, in reading direction
  if (style.horizontal == Horizontal::center) along = -width / 2;
  if (style.horizontal == Horizontal::right) along = -width;
  double below = 0;  // from the anchor down to the baseline, in the text's own frame
  if (style.vertical == Vertical::top) below = cap_height(style.size);
  if (style.vertical == Vertical::middle) below = cap_height(style.size) / 2;
  if (style.vertical == Vertical::bottom) below = -descent(style.size);
  cairo_save(cairo);
  use_font(cairo, style.size);
  set_color(cairo, style.color);
  cairo_translate(cairo, anchor.x, anchor.y);
  if (style.upward) cairo_rotate(cairo, -std::numbers::pi / 2);
  cairo_move_to(cairo, along, below);
  cairo_show_text(cairo, text.c_str());
  cairo_restore(cairo);
}

// ---- Lines ----

// The middle of the pixel column or row at `position`, where a one-pixel line is drawn sharp.
double crisp(double position) { return std::floor(position) + 0.5; }

void rule(cairo_t* cairo, Point from, Point to, Color color, double width = 1) {
  set_color(cairo, color);
  cairo_set_line_width(cairo, width);
  cairo_move_to(cairo, from.x, from.y);
  cairo_line_to(cairo, to.x, to.y);
  cairo_stroke(cairo);
}

// Cuts the segment to `box`; false when nothing of it is inside. Keeps cairo's fixed-point coordinates in range
// for points far outside the picture (values near 1e300).
bool clip_segment(Point& from, Point& to, const Rectangle& box) {
  const double dx = to.x - from.x;
  const double dy = to.y - from.y;
  if (!std::isfinite(dx) || !std::isfinite(dy)) return false;
  double enter = 0;
  double leave = 1;
  if (!detail::segment_inside(from, to, box, enter, leave)) return false;
  const Point start{from.x + enter * dx, from.y + enter * dy};
  const Point end{from.x + leave * dx, from.y + leave * dy};
  from = start;
  to = end;
  return true;
}

bool finite_point(Point point) { return std::isfinite(point.x) && std::isfinite(point.y); }

bool inside(const Rectangle& box, Point point) {
  return point.x >= box.left && point.x <= box.right && point.y >= box.top && point.y <= box.bottom;
}

// One stroke through consecutive finite points; a point with no finite neighbour becomes a dot, so a series of
// one point (or one between gaps) is still seen.
void add_polyline(cairo_t* cairo, const std::vector<Point>& points, const Rectangle& reach, double line_width) {
  bool joined = false;  // the path's current point is points[index]
  for (std::size_t index = 0; index < points.size(); ++index) {
    if (!finite_point(points[index])) {
      joined = false;
      continue;
    }
    const bool has_next = index + 1 < points.size() && finite_point(points[index + 1]);
    const bool has_previous = index > 0 && finite_point(points[index - 1]);
    if (!has_next) {
      if (!has_previous && inside(reach, points[index])) {
        cairo_new_sub_path(cairo);
        cairo_arc(cairo, points[index].x, points[index].y, line_width / 2, 0, 2 * std::numbers::pi);
        cairo_close_path(cairo);
      }
      joined = false;
      continue;
    }
    Point from = points[index];
    Point to = points[index + 1];
    const bool clipped_start = !inside(reach, from);
    if (!clip_segment(from, to, reach)) {
      joined = false;
      continue;
    }
    if (!joined || clipped_start) cairo_move_to(cairo, from.x, from.y);
    cairo_line_to(cairo, to.x, to.y);
    joined = inside(reach, points[index + 1]);
  }
}

// ---- Chart frame ----

void fill_background(cairo_t* cairo) {
  cairo_set_source_rgb(cairo, 1, 1, 1);
  cairo_paint(cairo);
}

void draw_grid(cairo_t* cairo, const Frame& frame, bool vertical_lines) {
  const Rectangle& area = frame.plot_area;
  cairo_set_line_width(cairo, 1);
  set_color(cairo, kGridColor);
  // Lines that would touch the frame are left out; the frame is there already.
  if (vertical_lines) {
    for (const Tick& tick : frame.x_ticks) {
      const double x = crisp(frame.x_to_pixel(tick.value));
      if (x < area.left + 1 || x > area.right - 1) continue;
      cairo_move_to(cairo, x, area.top);
      cairo_line_to(cairo, x, area.bottom);
    }
  }
  for (const Tick& tick : frame.y_ticks) {
    const double y = crisp(frame.y_to_pixel(tick.value));
    if (y < area.top + 1 || y > area.bottom - 1) continue;
    cairo_move_to(cairo, area.left, y);
    cairo_line_to(cairo, area.right, y);
  }
  cairo_stroke(cairo);
}

// The frame one pixel outside the plot area, ticks pointing out, tick labels, axis labels and title.
void draw_axes(cairo_t* cairo, const Frame& frame) {
  const Rectangle& area = frame.plot_area;
  const Typography type = typography_for(frame.width, frame.height);
  set_color(cairo, kFrameColor);
  cairo_set_line_width(cairo, 1);
  cairo_rectangle(cairo, area.left - 0.5, area.top - 0.5, area.width() + 1, area.height() + 1);
  cairo_stroke(cairo);

  const double below = area.bottom + 1;
  const double label_top = below + type.tick_length + type.gap;
  for (const Tick& tick : frame.x_ticks) {
    const double x = std::clamp(crisp(frame.x_to_pixel(tick.value)), area.left - 0.5, area.right + 0.5);
    rule(cairo, {x, below}, {x, below + type.tick_length}, kFrameColor);
    if (!frame.x_labels_upward) {
      draw_text(cairo, tick.label, {x, label_top},
                {.size = type.tick_text, .horizontal = Horizontal::center, .vertical = Vertical::top});
    } else {
      draw_text(
          cairo, tick.label, {x, label_top},
          {.size = type.tick_text, .horizontal = Horizontal::right, .vertical = Vertical::middle, .upward = true});
    }
  }
  for (double value : frame.x_minor_ticks) {
    const double x = std::clamp(crisp(frame.x_to_pixel(value)), area.left - 0.5, area.right + 0.5);
    rule(cairo, {x, below}, {x, below + std::round(0.6 * type.tick_length)}, kFrameColor);
  }
  const double beside = area.left - 1;
  for (const Tick& tick : frame.y_ticks) {
    const double y = std::clamp(crisp(frame.y_to_pixel(tick.value)), area.top - 0.5, area.bottom + 0.5);
    rule(cairo, {beside, y}, {beside - type.tick_length, y}, kFrameColor);
    draw_text(cairo, tick.label, {beside - type.tick_length - type.gap, y},
              {.size = type.tick_text, .horizontal = Horizontal::right, .vertical = Vertical::middle});
  }
  for (double value : frame.y_minor_ticks) {
    const double y = std::clamp(crisp(frame.y_to_pixel(value)), area.top - 0.5, area.bottom + 0.5);
    rule(cairo, {beside, y}, {beside - std::round(0.6 * type.tick_length), y}, kFrameColor);
  }

  // Centred over the plot when they fit there, else over the picture.
  auto centred = [](double middle, double half, double low, double high) {
    return std::clamp(middle, low + half, std::max(low + half, high - half));
  };
  const double middle_x = (area.left + area.right) / 2;
  if (!frame.title.empty()) {
    const double x =
        centred(middle_x, text_width(frame.title, type.title_text) / 2, type.pad, frame.width - type.pad);
    draw_text(cairo, frame.title, {x, type.pad},
              {.size = type.title_text,
               .color = kLabelColor,
               .horizontal = Horizontal::center,
               .vertical = Vertical::top});
  }
  if (!frame.x_label.empty()) {
    const double x =
        centred(middle_x, text_width(frame.x_label, type.label_text) / 2, type.pad, frame.width - type.pad);
    draw_text(cairo, frame.x_label, {x, frame.height - type.pad},
              {.size = type.label_text,
               .color = kLabelColor,
               .horizontal = Horizontal::center,
               .vertical = Vertical::bottom});
  }
  if (!frame.y_label.empty()) {
    const double y = centred((area.top + area.bottom) / 2, text_width(frame.y_label, type.label_text) / 2,
                             type.pad, frame.height - type.pad);
    draw_text(cairo, frame.y_label, {type.pad, y},
              {.size = type.label_text,
               .color = kLabelColor,
               .horizontal = Horizontal::center,
               .vertical = Vertical::top,
               .upward = true});
  }
}

void draw_annotations(cairo_t* cairo, const Frame& frame) {
  const Typography type = typography_for(frame.width, frame.height);
  for (const Annotation& note : frame.annotations) {
    const bool no_data = note.text == "no data";
    draw_text(cairo, note.text, note.anchor,
              {.size = no_data ? type.label_text * 1.2 : type.tick_text,
               .color = no_data ? kNoDataColor : kTickTextColor,
               .horizontal = Horizontal::center,
               .vertical = note.above ? Vertical::baseline : Vertical::top});
  }
}

void rounded_rectangle(cairo_t* cairo, const Rectangle& box, double radius) {
  const double pi = std::numbers::pi;
  cairo_new_sub_path(cairo);
  cairo_arc(cairo, box.right - radius, box.top + radius, radius, -pi / 2, 0);
  cairo_arc(cairo, box.right - radius, box.bottom - radius, radius, 0, pi / 2);
  cairo_arc(cairo, box.left + radius, box.bottom - radius, radius, pi / 2, pi);
  cairo_arc(cairo, box.left + radius, box.top + radius, radius, pi, 3 * pi / 2);
  cairo_close_path(cairo);
}

// matplotlib's legend: a rounded box, white at 80 percent over the data, a light grey edge.
void draw_legend(cairo_t* cairo, const Frame& frame, double line_width, double marker_radius) {
  if (!frame.legend) return;
  const Legend& legend = *frame.legend;
  const Typography type = typography_for(frame.width, frame.height);
  const double em = type.legend_text;
  const double padding = std::round(0.5 * em);
  const double row_height = std::round(1.5 * em);
  const double sample_length = std::round(2.0 * em);
  const double text_gap = std::round(0.8 * em);
  const Rectangle box{legend.box.left + 0.5, legend.box.top + 0.5, legend.box.right - 0.5,
                      legend.box.bottom - 0.5};
  rounded_rectangle(cairo, box, std::round(0.3 * em));
  set_color(cairo, white, 0.8);
  cairo_fill_preserve(cairo);
  set_color(cairo, kLegendBorderColor);
  cairo_set_line_width(cairo, 1);
  cairo_stroke(cairo);
  const double text_middle = (cap_height(em) + descent(em)) / 2;
  for (std::size_t index = 0; index < legend.entries.size(); ++index) {
    const LegendEntry& entry = legend.entries[index];
    // The row's text line, centred on the capitals' middle.
    const double middle = legend.box.top + padding + index * row_height + text_middle;
    const double sample_left = legend.box.left + padding;
    const double sample_right = sample_left + sample_length;
    if (entry.mark == LegendMark::swatch) {
      const double half = std::round(0.35 * em);
      cairo_rectangle(cairo, sample_left + 0.5, std::round(middle - half) + 0.5, sample_length - 1, 2 * half - 1);
      set_color(cairo, entry.color, entry.fill_opacity);
      cairo_fill_preserve(cairo);
      set_color(cairo, entry.color);
      cairo_set_line_width(cairo, 1);
      cairo_stroke(cairo);
    }
    if (entry.mark == LegendMark::line || entry.mark == LegendMark::line_and_marker) {
      cairo_set_line_cap(cairo, CAIRO_LINE_CAP_BUTT);
      rule(cairo, {sample_left, middle}, {sample_right, middle}, entry.color, line_width);
    }
    if (entry.mark == LegendMark::marker || entry.mark == LegendMark::line_and_marker) {
      set_color(cairo, entry.color);
      cairo_arc(cairo, (sample_left + sample_right) / 2, middle, marker_radius, 0, 2 * std::numbers::pi);
      cairo_fill(cairo);
    }
    draw_text(cairo, entry.text, {sample_right + text_gap, middle},
              {.size = em, .color = kLabelColor, .vertical = Vertical::middle});
  }
}

void clip_to(cairo_t* cairo, const Rectangle& area) {
  cairo_rectangle(cairo, area.left, area.top, area.width(), area.height());
  cairo_clip(cairo);
}

// ---- Charts ----

void draw_chart(cairo_t* cairo, const LineChart& chart, const Frame& frame) {
  const Rectangle& area = frame.plot_area;
  fill_background(cairo);
  draw_grid(cairo, frame, true);
  cairo_save(cairo);
  clip_to(cairo, area);
  const double reach = 4 * std::max(chart.line_width, chart.marker_radius);
  const Rectangle reach_box{area.left - reach, area.top - reach, area.right + reach, area.bottom + reach};
  cairo_set_line_join(cairo, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cairo, CAIRO_LINE_CAP_ROUND);
  for (std::size_t index = 0; index < chart.series.size(); ++index) {
    const Series& series = chart.series[index];
    std::vector<Point> pixels(series.x.size());
    for (std::size_t point = 0; point < pixels.size(); ++point) {
      const bool usable = std::isfinite(series.x[point]) && std::isfinite(series.y[point]) &&
                          std::abs(series.x[point]) <= 1e300 && std::abs(series.y[point]) <= 1e300;
      pixels[point] = usable ? Point{frame.x_to_pixel(series.x[point]), frame.y_to_pixel(series.y[point])}
                             : Point{std::numeric_limits<double>::quiet_NaN(), 0};
    }
    set_color(cairo, series.color.value_or(series_color(index)));
    if (series.style != SeriesStyle::markers) {
      cairo_set_line_width(cairo, chart.line_width);
      add_polyline(cairo, pixels, reach_box, chart.line_width);
      cairo_stroke(cairo);
    }
    if (series.style != SeriesStyle::line) {
      for (const Point& point : pixels) {
        if (!finite_point(point) || !inside(reach_box, point)) continue;
        cairo_new_sub_path(cairo);
        cairo_arc(cairo, point.x, point.y, chart.marker_radius, 0, 2 * std::numbers::pi);
      }
      cairo_fill(cairo);
    }
  }
  cairo_restore(cairo);
  draw_axes(cairo, frame);
  draw_annotations(cairo, frame);
  draw_legend(cairo, frame, chart.line_width, chart.marker_radius);
}

void draw_chart(cairo_t* cairo, const Histogram& histogram, const Bins& bins, const Frame& frame) {
  const Rectangle& area = frame.plot_area;
  const Typography type = typography_for(frame.width, frame.height);
  fill_background(cairo);
  draw_grid(cairo, frame, true);
  cairo_save(cairo);
  clip_to(cairo, area);
  const bool overlaid = histogram.layout == HistogramLayout::overlaid;
  auto color_of = [&](std::size_t sample) {
    return histogram.samples[sample].color.value_or(series_color(sample));
  };
  for (const detail::HistogramBar& bar : detail::histogram_bars(histogram, bins, frame)) {
    cairo_rectangle(cairo, bar.area.left, bar.area.top, bar.area.width(), bar.area.height());
    set_color(cairo, color_of(bar.sample), overlaid ? histogram.fill_opacity : 1.0);
    cairo_fill(cairo);
  }
  if (overlaid) {
    // Each sample's outline as one step line over its bins, so overlapping fills stay readable.
    const double bin_width = (bins.max - bins.min) / histogram.bins;
    cairo_set_line_width(cairo, std::max(1.5, std::round(1.5 * type.scale)));
    cairo_set_line_join(cairo, CAIRO_LINE_JOIN_MITER);
    for (std::size_t sample = 0; sample < bins.heights.size(); ++sample) {
      if (bins.counted[sample] == 0) continue;
      cairo_move_to(cairo, frame.x_to_pixel(bins.min), area.bottom);
      for (std::size_t index = 0; index < bins.heights[sample].size(); ++index) {
        const double top = std::max(area.top, frame.y_to_pixel(bins.heights[sample][index]));
        cairo_line_to(cairo, frame.x_to_pixel(bins.min + index * bin_width), top);
        cairo_line_to(cairo, frame.x_to_pixel(bins.min + (index + 1) * bin_width), top);
      }
      cairo_line_to(cairo, frame.x_to_pixel(bins.max), area.bottom);
      set_color(cairo, color_of(sample));
      cairo_stroke(cairo);
    }
  }
  cairo_restore(cairo);
  draw_axes(cairo, frame);
  draw_annotations(cairo, frame);
  draw_legend(cairo, frame, 2, 3);
}

void draw_chart(cairo_t* cairo, const BarChart& chart, const Frame& frame) {
  const Rectangle& area = frame.plot_area;
  fill_background(cairo);
  draw_grid(cairo, frame, false);
  set_color(cairo, chart.color.value_or(series_color(0)));
  for (std::size_t index = 0; index < chart.bars.size(); ++index) {
    const std::optional<Rectangle> bar = detail::bar_rectangle(chart, index, frame);
    if (bar) cairo_rectangle(cairo, bar->left, bar->top, bar->width(), bar->height());
  }
  cairo_fill(cairo);
  // The zero line, so negative bars read against it.
  if (frame.y.min < 0) {
    const double zero = crisp(frame.y_to_pixel(0));
    rule(cairo, {area.left, zero}, {area.right, zero}, kFrameColor);
  }
  draw_axes(cairo, frame);
  draw_annotations(cairo, frame);
}

// Stretched to the picture's own minimum..maximum; constant pictures and NaN are mid-grey.
cairo_surface_t* image_surface(const GridImage& image) {
  float low = std::numeric_limits<float>::infinity();
  float high = -std::numeric_limits<float>::infinity();
  for (float value : image.planes) {
    if (!std::isfinite(value)) continue;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  const double range = static_cast<double>(high) - low;
  auto level = [&](float value) -> std::uint32_t {
    if (!std::isfinite(value) || !(range > 0)) return 128;
    return static_cast<std::uint32_t>(std::lround((static_cast<double>(value) - low) / range * 255.0));
  };
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, image.width, image.height);
  cairo_surface_flush(surface);
  unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  const std::size_t plane = static_cast<std::size_t>(image.height) * image.width;
  for (int row = 0; row < image.height; ++row) {
    auto* pixels = reinterpret_cast<std::uint32_t*>(data + static_cast<std::size_t>(row) * stride);
    for (int column = 0; column < image.width; ++column) {
      const std::size_t offset = static_cast<std::size_t>(row) * image.width + column;
      const std::uint32_t red = level(image.planes[offset]);
      const std::uint32_t green = image.channels == 3 ? level(image.planes[plane + offset]) : red;
      const std::uint32_t blue = image.channels == 3 ? level(image.planes[2 * plane + offset]) : red;
      pixels[column] = (red << 16) | (green << 8) | blue;
    }
  }
  cairo_surface_mark_dirty(surface);
  return surface;
}

void draw_grid_image(cairo_t* cairo, const GridImage& image, Point origin, int zoom) {
  cairo_surface_t* surface = image_surface(image);
  cairo_save(cairo);
  cairo_translate(cairo, origin.x, origin.y);
  cairo_scale(cairo, zoom, zoom);
  cairo_set_source_surface(cairo, surface, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cairo), CAIRO_FILTER_NEAREST);
  cairo_rectangle(cairo, 0, 0, image.width, image.height);
  cairo_fill(cairo);
  cairo_restore(cairo);
  cairo_surface_destroy(surface);
  set_color(cairo, kImageBorderColor);
  cairo_set_line_width(cairo, 1);
  cairo_rectangle(cairo, origin.x - 0.5, origin.y - 0.5, image.width * zoom + 1.0, image.height * zoom + 1.0);
  cairo_stroke(cairo);
}

void draw_chart(cairo_t* cairo, const ImageGrid& grid, const GridLayout& plan) {
  fill_background(cairo);
  constexpr double kTitleText = 16;
  constexpr double kCaptionText = 12;
  if (!plan.title.empty()) {
    draw_text(
        cairo, plan.title, {plan.width / 2.0, 16},
        {.size = kTitleText, .color = kLabelColor, .horizontal = Horizontal::center, .vertical = Vertical::top});
  }
  if (grid.images.empty()) {
    draw_text(cairo, "no data", {plan.width / 2.0, plan.height / 2.0 + 8},
              {.size = 16, .color = kNoDataColor, .horizontal = Horizontal::center, .vertical = Vertical::middle});
    return;
  }
  for (std::size_t index = 0; index < grid.images.size(); ++index) {
    draw_grid_image(cairo, grid.images[index], plan.image_origins[index], plan.zoom);
    draw_text(
        cairo, plan.captions[index], plan.caption_anchors[index],
        {.size = kCaptionText, .color = kLabelColor, .horizontal = Horizontal::center, .vertical = Vertical::top});
  }
}

// ---- Files ----

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t status, const std::filesystem::path& path) {
  if (status != CAIRO_STATUS_SUCCESS) {
    throw_error(fmt::format("cannot write '{}': cairo: {}", path.string(), cairo_status_to_string(status)));
  }
}

using Drawing = std::function<void(cairo_t*)>;

// Draws on a surface of the kind the extension names, encodes it in memory, then writes it whole.
void write_picture(const std::filesystem::path& path, int width, int height, const Drawing& draw) {
  const std::string extension = path.extension().string();
  if (extension != ".png" && extension != ".svg") {
    throw_error(
        fmt::format("cannot write '{}': a chart is saved as .png or .svg, not '{}'", path.string(), extension));
  }
  const bool svg = extension == ".svg";
  std::string bytes;
  cairo_surface_t* surface = svg ? cairo_svg_surface_create_for_stream(append_to_string, &bytes, width, height)
                                 : cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> owned(surface, cairo_surface_destroy);
  check(cairo_surface_status(surface), path);
  // The picture's size in pixels, as for the PNG, rather than cairo's default points.
  if (svg) cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX);
  cairo_t* cairo = cairo_create(surface);
  draw(cairo);
  const cairo_status_t drawn = cairo_status(cairo);
  cairo_destroy(cairo);
  check(drawn, path);
  if (svg) {
    cairo_surface_finish(surface);
  } else {
    check(cairo_surface_write_to_png_stream(surface, append_to_string, &bytes), path);
  }
  check(cairo_surface_status(surface), path);
  write_file_atomically(path, bytes);
}

}  // namespace

// Laid out before any surface is made, so a description that cannot be drawn throws with nothing created.
void save(const LineChart& chart, const std::filesystem::path& path) {
  const Frame frame = layout(chart);
  write_picture(path, frame.width, frame.height, [&](cairo_t* cairo) { draw_chart(cairo, chart, frame); });
}

void save(const Histogram& histogram, const std::filesystem::path& path) {
  const Bins bins = bin(histogram);
  const Frame frame = layout(histogram);
  write_picture(path, frame.width, frame.height,
                [&](cairo_t* cairo) { draw_chart(cairo, histogram, bins, frame); });
}

void save(const BarChart& chart, const std::filesystem::path& path) {
  const Frame frame = layout(chart);
  write_picture(path, frame.width, frame.height, [&](cairo_t* cairo) { draw_chart(cairo, chart, frame); });
}

void save(const ImageGrid& grid, const std::filesystem::path& path) {
  const GridLayout plan = layout(grid);
  write_picture(path, plan.width, plan.height, [&](cairo_t* cairo) { draw_chart(cairo, grid, plan); });
}

}  // namespace tapegrad::plot
