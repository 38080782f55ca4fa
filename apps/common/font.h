// The built-in stroke font of the plots: each glyph is a few polylines on a grid where capitals are 10 units
// tall, drawn with round pens, so text is smooth at any size and in either direction. It covers printable
// ASCII and a few symbols the reports use (λ η μ σ × − · ±); anything else shows as '?'.
#pragma once

#include <string_view>
#include <vector>

#include "apps/common/plot.h"

namespace tapegrad::plot {

struct TextMetrics {
  double width = 0;    // along the baseline, from the first glyph's origin to the last glyph's end
  double ascent = 0;   // top of capitals above the baseline
  double descent = 0;  // lowest descender below the baseline
  double pen_width = 0;
};

TextMetrics measure_text(std::string_view utf8, double cap_height);

// The strokes of `utf8` in canvas pixels: the baseline starts at `origin` and runs right (horizontal) or up
// (upward). Each glyph starts on a pixel centre so its upright strokes stay sharp.
std::vector<std::vector<Point>> text_strokes(std::string_view utf8, double cap_height, Point origin,
                                             TextDirection direction);

}  // namespace tapegrad::plot
