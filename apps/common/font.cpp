#include "apps/common/font.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <unordered_map>

namespace tapegrad::plot {
namespace {

// Glyph outlines on a grid with the baseline at y = 0, capitals 10 units tall, lower case 7, descenders to -3,
// y upwards. A path is a list of strokes separated by '|'; a stroke is a list of points "x,y" and elliptic
// arcs "(cx,cy,rx,ry,from,to)" with angles in degrees, counter-clockwise when to > from. An arc continues
// the stroke it is in, so a line can run into a curve.
struct GlyphSource {
  char32_t code;
  double width;
  const char* path;
};

constexpr GlyphSource kGlyphSources[] = {
    {U' ', 2.2, ""},
    {U'!', 1, "0.5,10 0.5,3 | 0.5,0 0.5,0.3"},
    {U'"', 3, "0.5,10 0.5,7 | 2.5,10 2.5,7"},
    {U'#', 7.2, "1.8,0 2.8,10 | 4.6,0 5.6,10 | 0.4,3.3 7,3.3 | 0.6,6.7 7.2,6.7"},
    {U'$', 6, "(3,7.5,2.8,2.5,20,270) (3,2.5,3,2.5,90,-160) | 3,11 3,-1"},
    {U'%', 7.5, "0.5,0 7,10 | (1.6,8,1.6,2,0,360) | (5.9,2,1.6,2,0,360)"},
    {U'&', 6.6,
     "6.6,0 2,5.6 1.3,6.8 1.4,8.6 2.4,9.8 3.7,9.8 4.6,8.8 4.4,7.4 1.6,5.3 0.5,3.9 0.2,2.4 0.7,0.9 2,0 3.6,0.1 "
     "5,1.2 6.4,3.5"},
    {U'\'', 1, "0.5,10 0.5,7"},
    {U'(', 2, "(3,3.5,3,7,118,242)"},
    {U')', 2, "(-1,3.5,3,7,62,-62)"},
    {U'*', 5, "2.5,9.5 2.5,4.5 | 0.3,8.3 4.7,5.7 | 0.3,5.7 4.7,8.3"},
    {U'+', 6, "0,4.6 6,4.6 | 3,1.6 3,7.6"},
    {U',', 1, "0.8,0.6 0,-2"},
    {U'-', 4.2, "0,4.6 4.2,4.6"},
    {U'.', 1, "0.5,0 0.5,0.3"},
    {U'/', 4.5, "0,-1 4.5,10.5"},
    {U'0', 6, "(3,5,3,5,0,360)"},
    {U'1', 6, "1,8 3.5,10 3.5,0 | 1,0 6,0"},
    {U'2', 6, "(3,7,3,3,160,-35) 0,0 6,0"},
    {U'3', 6, "(3,7.6,2.7,2.4,150,-90) (3,2.6,3,2.6,90,-150)"},
    {U'4', 6.5, "4.8,0 4.8,10 0,3 6.5,3"},
    {U'5', 6, "5.6,10 1,10 0.55,5.3 (3,3.2,3,3.2,140,-150)"},
    {U'6', 6, "(3.5,3,3.5,7,70,180) (3,3,3,3,180,-180)"},
    {U'7', 6, "0,10 6,10 2,0"},
    {U'8', 6, "(3,7.6,2.6,2.4,-90,270) | (3,2.6,3,2.6,90,450)"},
    {U'9', 6, "(3,7,3,3,0,360) (2.5,7,3.5,7,0,-110)"},
    {U':', 1, "0.5,0 0.5,0.3 | 0.5,6.7 0.5,7"},
    {U';', 1, "0.8,0.6 0,-2 | 0.8,6.7 0.8,7"},
    {U'<', 5.5, "5.5,8 0,4.6 5.5,1.2"},
    {U'=', 6, "0,3.3 6,3.3 | 0,6 6,6"},
    {U'>', 5.5, "0,8 5.5,4.6 0,1.2"},
    {U'?', 5.2, "(2.6,7.4,2.6,2.6,160,-50) 2.6,3.6 2.6,2.8 | 2.6,0 2.6,0.3"},
    {U'@', 9, "(4.5,4.6,1.9,2.2,0,360) | 6.4,7 6.4,3 (7.6,3,1.2,1.2,180,360) (4.5,4.8,4.4,5,5,300)"},
    {U'A', 7, "0,0 3.5,10 7,0 | 1.3,3.5 5.7,3.5"},
    {U'B', 6.3, "0,0 0,10 3.5,10 (3.5,7.6,2.4,2.4,90,-90) 0,5.2 | 3.7,5.2 (3.7,2.6,2.6,2.6,90,-90) 0,0"},
    {U'C', 7, "(4,5,4,5,42,318)"},
    {U'D', 7, "0,0 0,10 3,10 (3,5,4,5,90,-90) 0,0"},
    {U'E', 6, "6,10 0,10 0,0 6,0 | 0,5.2 5,5.2"},
    {U'F', 6, "6,10 0,10 0,0 | 0,5.2 5,5.2"},
    {U'G', 7.6, "(3.8,5,3.8,5,42,345) 7.5,4.6 4.4,4.6"},
    {U'H', 6.5, "0,0 0,10 | 0,5.2 6.5,5.2 | 6.5,0 6.5,10"},
    {U'I', 3, "0,10 3,10 | 1.5,10 1.5,0 | 0,0 3,0"},
    {U'J', 5, "5,10 5,3 (2.5,3,2.5,3,0,-160)"},
    {U'K', 6.3, "0,0 0,10 | 6,10 0,3.5 | 2,5.5 6.3,0"},
    {U'L', 5.5, "0,10 0,0 5.5,0"},
    {U'M', 8, "0,0 0,10 4,2 8,10 8,0"},
    {U'N', 6.5, "0,0 0,10 6.5,0 6.5,10"},
    {U'O', 8, "(4,5,4,5,0,360)"},
    {U'P', 6.2, "0,0 0,10 3.5,10 (3.5,7.3,2.7,2.7,90,-90) 0,4.6"},
    {U'Q', 8, "(4,5,4,5,0,360) | 4.8,2.5 8,-0.8"},
    {U'R', 6.3, "0,0 0,10 3.5,10 (3.5,7.4,2.6,2.6,90,-90) 0,4.8 | 3.2,4.8 6.3,0"},
    {U'S', 6, "(3,7.5,2.8,2.5,20,270) (3,2.5,3,2.5,90,-160)"},
    {U'T', 7, "0,10 7,10 | 3.5,10 3.5,0"},
    {U'U', 6.4, "0,10 0,3.2 (3.2,3.2,3.2,3.2,180,360) 6.4,10"},
    {U'V', 7, "0,10 3.5,0 7,10"},
    {U'W', 9.5, "0,10 2.4,0 4.75,8 7.1,0 9.5,10"},
    {U'X', 6.5, "0,10 6.5,0 | 0,0 6.5,10"},
    {U'Y', 7, "0,10 3.5,5 7,10 | 3.5,5 3.5,0"},
    {U'Z', 6, "0,10 6,10 0,0 6,0"},
    {U'[', 2.2, "2.2,10.5 0,10.5 0,-2.5 2.2,-2.5"},
    {U'\\', 4.5, "0,10.5 4.5,-1"},
    {U']', 2.2, "0,10.5 2.2,10.5 2.2,-2.5 0,-2.5"},
    {U'^', 5, "0,6.5 2.5,10 5,6.5"},
    {U'_', 6, "0,-2 6,-2"},
    {U'`', 1.5, "0,10 1.5,8.5"},
    {U'a', 5.8, "5.8,7 5.8,0 | (2.9,3.5,2.9,3.5,0,360)"},
    {U'b', 5.8, "0,10 0,0 | (2.9,3.5,2.9,3.5,0,360)"},
    {U'c', 5.2, "(2.9,3.5,2.9,3.5,45,315)"},
    {U'd', 5.8, "5.8,10 5.8,0 | (2.9,3.5,2.9,3.5,0,360)"},
    {U'e', 5.8, "0,3.5 5.8,3.5 (2.9,3.5,2.9,3.5,0,320)"},
    {U'f', 4.5, "1.5,0 1.5,8 (3.5,8,2,2,180,50) | 0,7 4.2,7"},
    {U'g', 5.8, "(2.9,3.5,2.9,3.5,0,360) | 5.8,7 5.8,-1 (2.9,-1,2.9,2,0,-160)"},
    {U'h', 5.6, "0,10 0,0 | 0,4 (2.8,4,2.8,3,180,0) 5.6,0"},
    {U'i', 1, "0.5,0 0.5,7 | 0.5,9.3 0.5,9.6"},
    {U'j', 2, "2,7 2,-1.5 (0.5,-1.5,1.5,1.5,0,-120) | 2,9.3 2,9.6"},
    {U'k', 5.3, "0,10 0,0 | 5,7 0,2.5 | 1.8,4 5.3,0"},
    {U'l', 1, "0.5,10 0.5,0"},
    {U'm', 8.4, "0,7 0,0 | 0,4.5 (2.1,4.5,2.1,2.5,180,0) 4.2,0 | 4.2,4.5 (6.3,4.5,2.1,2.5,180,0) 8.4,0"},
    {U'n', 5.6, "0,7 0,0 | 0,4 (2.8,4,2.8,3,180,0) 5.6,0"},
    {U'o', 5.8, "(2.9,3.5,2.9,3.5,0,360)"},
    {U'p', 5.8, "0,7 0,-3 | (2.9,3.5,2.9,3.5,0,360)"},
    {U'q', 5.8, "5.8,7 5.8,-3 | (2.9,3.5,2.9,3.5,0,360)"},
    {U'r', 4.5, "0,7 0,0 | 0,3.8 (3,3.8,3,3.2,180,60)"},
    {U's', 5.2, "(2.6,5.25,2.4,1.75,20,270) (2.6,1.75,2.6,1.75,90,-160)"},
    {U't', 4, "1.5,9.3 1.5,1.3 (3,1.3,1.5,1.3,180,300) | 0,7 4,7"},
    {U'u', 5.6, "0,7 0,3 (2.8,3,2.8,3,180,360) | 5.6,7 5.6,0"},
    {U'v', 5.6, "0,7 2.8,0 5.6,7"},
    {U'w', 8, "0,7 2,0 4,5.5 6,0 8,7"},
    {U'x', 5.5, "0,7 5.5,0 | 0,0 5.5,7"},
    {U'y', 5.8, "0,7 2.9,0 | 5.8,7 1.6,-3"},
    {U'z', 5.5, "0,7 5.5,7 0,0 5.5,0"},
    {U'{', 3, "3,10.5 2,10.1 1.6,9.2 1.6,5.8 1.1,4.9 0,4.6 1.1,4.3 1.6,3.4 1.6,-1.4 2,-2.3 3,-2.5"},
    {U'|', 1, "0.5,11 0.5,-3"},
    {U'}', 3, "0,10.5 1,10.1 1.4,9.2 1.4,5.8 1.9,4.9 3,4.6 1.9,4.3 1.4,3.4 1.4,-1.4 1,-2.3 0,-2.5"},
    {U'~', 5.6, "0,4 0.8,5 1.8,5.3 3.2,4.5 4.2,4.2 5,4.5 5.6,5.2"},
    {U'\u00b1', 6, "0,5.6 6,5.6 | 3,2.6 3,8.6 | 0,0.5 6,0.5"},               // ±
    {U'\u00b7', 1, "0.5,4.4 0.5,4.8"},                                       // middle dot
    {U'\u00d7', 5.5, "0.5,2 5,6.5 | 0.5,6.5 5,2"},                           // multiplication sign
    {U'\u03b7', 5.6, "0,7 0,0 | 0,4 (2.8,4,2.8,3,180,0) 5.6,-3"},            // eta
    {U'\u03bb', 6, "0.3,10 1.6,9.6 6,0 | 3.3,6 0,0"},                        // lambda
    {U'\u03bc', 5.6, "0,7 0,-3 | 0,3 (2.8,3,2.8,3,180,360) | 5.6,7 5.6,0"},  // mu
    {U'\u03c3', 6.5, "6.5,7 2.9,7 (2.9,3.5,2.9,3.5,90,450)"},                // sigma
    {U'\u2212', 6, "0,4.6 6,4.6"},                                           // minus sign
};

constexpr double kCapUnits = 10;
constexpr double kAscentUnits = 10;
constexpr double kDescentUnits = 3;
constexpr double kGapUnits = 2.3;  // between one glyph's outline and the next

struct Glyph {
  double advance = 0;                       // outline width plus the gap to the next glyph
  std::vector<std::vector<Point>> strokes;  // grid units, y upwards
};

double read_number(const char*& cursor) {
  char* end = nullptr;
  const double value = std::strtod(cursor, &end);
  cursor = end;
  while (*cursor == ',' || *cursor == ' ') ++cursor;
  return value;
}

void append_arc(std::vector<Point>& stroke, double center_x, double center_y, double radius_x, double radius_y,
                double from_degrees, double to_degrees) {
  const int steps = std::max(2, static_cast<int>(std::ceil(std::abs(to_degrees - from_degrees) / 10.0)));
  for (int step = 0; step <= steps; ++step) {
    const double degrees = from_degrees + (to_degrees - from_degrees) * step / steps;
    const double radians = degrees * std::numbers::pi / 180.0;
    stroke.push_back({center_x + radius_x * std::cos(radians), center_y + radius_y * std::sin(radians)});
  }
}

Glyph parse_glyph(const GlyphSource& source) {
  Glyph glyph;
  glyph.advance = source.width + kGapUnits;
  std::vector<Point> stroke;
  const char* cursor = source.path;
  auto finish_stroke = [&] {
    if (!stroke.empty()) glyph.strokes.push_back(std::move(stroke));
    stroke.clear();
  };
  while (*cursor != '\0') {
    if (*cursor == ' ') {
      ++cursor;
    } else if (*cursor == '|') {
      finish_stroke();
      ++cursor;
    } else if (*cursor == '(') {
      ++cursor;
      double numbers[6];
      for (double& number : numbers) number = read_number(cursor);
      ++cursor;  // ')'
      append_arc(stroke, numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]);
    } else {
      const double x = read_number(cursor);
      const double y = read_number(cursor);
      stroke.push_back({x, y});
    }
  }
  finish_stroke();
  return glyph;
}

const std::unordered_map<char32_t, Glyph>& glyphs() {
  static const std::unordered_map<char32_t, Glyph> table = [] {
    std::unordered_map<char32_t, Glyph> parsed;
    for (const GlyphSource& source : kGlyphSources) parsed.emplace(source.code, parse_glyph(source));
    return parsed;
  }();
  return table;
}

const Glyph& glyph_for(char32_t code) {
  const auto& table = glyphs();
  if (code == U'\t' || code == U'\n' || code == U'\r') code = U' ';
  const auto found = table.find(code);
  return found != table.end() ? found->second : table.at(U'?');
}

// Decodes UTF-8; a malformed sequence becomes one U+FFFD, which then draws as '?'.
std::vector<char32_t> decode_utf8(std::string_view text) {
  std::vector<char32_t> codes;
  codes.reserve(text.size());
  std::size_t position = 0;
  while (position < text.size()) {
    const auto lead = static_cast<unsigned char>(text[position]);
    int length = 1;
    char32_t code = lead;
    if (lead >= 0xf0 && lead < 0xf8) {
      length = 4;
      code = lead & 0x07;
    } else if (lead >= 0xe0) {
      length = 3;
      code = lead & 0x0f;
    } else if (lead >= 0xc0) {
      length = 2;
      code = lead & 0x1f;
    } else if (lead >= 0x80) {
      length = 0;  // a continuation byte without a lead
    }
    bool valid = length > 0 && position + static_cast<std::size_t>(length) <= text.size();
    for (int index = 1; valid && index < length; ++index) {
      const auto next = static_cast<unsigned char>(text[position + index]);
      valid = (next & 0xc0) == 0x80;
      code = (code << 6) | (next & 0x3f);
    }
    if (valid) {
      codes.push_back(code);
      position += static_cast<std::size_t>(length);
    } else {
      codes.push_back(U'\ufffd');
      ++position;
    }
  }
  return codes;
}

// Thin enough to keep small counters open, thick enough not to fade at small sizes.
double pen_width_for(double cap_height) { return std::max(1.0, 0.105 * cap_height + 0.3); }

}  // namespace

TextMetrics measure_text(std::string_view utf8, double cap_height) {
  const double unit = cap_height / kCapUnits;
  TextMetrics metrics;
  double advance = 0;
  for (char32_t code : decode_utf8(utf8)) advance += glyph_for(code).advance;
  metrics.width = std::max(0.0, advance - kGapUnits) * unit;
  metrics.ascent = kAscentUnits * unit;
  metrics.descent = kDescentUnits * unit;
  metrics.pen_width = pen_width_for(cap_height);
  return metrics;
}

std::vector<std::vector<Point>> text_strokes(std::string_view utf8, double cap_height, Point origin,
                                             TextDirection direction) {
  const double unit = cap_height / kCapUnits;
  std::vector<std::vector<Point>> strokes;
  const bool upward = direction == TextDirection::upward;
  // Across the baseline the position is snapped once, along it per glyph, each to a pixel centre.
  const double across = upward ? std::floor(origin.x) + 0.5 : std::floor(origin.y) + 0.5;
  double along = upward ? origin.y : origin.x;
  for (char32_t code : decode_utf8(utf8)) {
    const Glyph& glyph = glyph_for(code);
    const double start = upward ? std::ceil(along) - 0.5 : std::floor(along) + 0.5;
    for (const auto& outline : glyph.strokes) {
      std::vector<Point> stroke;
      stroke.reserve(outline.size());
      for (const Point& point : outline) {
        if (upward) {
          stroke.push_back({across - point.y * unit, start - point.x * unit});
        } else {
          stroke.push_back({start + point.x * unit, across - point.y * unit});
        }
      }
      strokes.push_back(std::move(stroke));
    }
    along += (upward ? -1 : 1) * glyph.advance * unit;
  }
  return strokes;
}

}  // namespace tapegrad::plot
