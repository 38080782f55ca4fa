// What the chart layout (plot.cpp) and the drawing (plot_draw.cpp) share: the font (DejaVu Sans through cairo),
// its sizes for a picture of a given size, how wide a text is, and where bars land. Internal to the plots.
#pragma once

#include <cairo.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/nn/plot/plot.h>

namespace tapegrad::plot::detail {

// Font sizes (pixels per em) and spacing in pixels. They grow with the picture, so a large figure does not end
// up with tiny labels; at 800 x 500 they match matplotlib's defaults at 100 dpi (10 pt ticks, 12 pt title).
struct Typography {
  double scale = 1;
  double pad = 12;  // from the picture's edge to the nearest text
  double gap = 5;   // between a tick and its label, a label and the tick labels
  double tick_length = 5;
  double tick_text = 13;
  double label_text = 14;
  double title_text = 17;
  double legend_text = 13;
};

Typography typography_for(int width, int height);

// Selects the chart font at `size` pixels on `cairo`, with metrics unhinted so that what the layout measured is
// what is drawn, on PNG and SVG alike.
void use_font(cairo_t* cairo, double size);

// Advance width of `text` in pixels, as drawn at `size`.
double text_width(std::string_view text, double size);
// Height of a digit or capital letter above the baseline, and the depth of the lowest descender below it.
double cap_height(double size);
double descent(double size);

// Shortens `text` with "..." until it fits `max_width` pixels, a whole UTF-8 character at a time.
std::string fit_text(const std::string& text, double size, double max_width);

// A histogram bar of one sample in picture pixels, clipped to the plot area.
struct HistogramBar {
  std::size_t sample = 0;
  Rectangle area{};
};
std::vector<HistogramBar> histogram_bars(const Histogram& histogram, const Bins& bins, const Frame& frame);

// A bar chart's bar, from zero to its value; none for a value that is NaN or infinite.
std::optional<Rectangle> bar_rectangle(const BarChart& chart, std::size_t index, const Frame& frame);

// Liang-Barsky: the part of the segment from -> to inside `box`, as the fractions [enter, leave] of its length;
// false when no part of it is inside.
bool segment_inside(Point from, Point to, const Rectangle& box, double& enter, double& leave);

}  // namespace tapegrad::plot::detail
