#include <algorithm>
#include <cmath>

#include <tapegrad/nn/plot/plot_detail.h>

namespace tapegrad::plot::detail {
namespace {

constexpr const char* kFontFamily = "DejaVu Sans";

// Text is measured on a context of its own per thread (trials draw their charts side by side).
class Measurer {
 public:
  Measurer() : surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1)), cairo_(cairo_create(surface_)) {}
  ~Measurer() {
    cairo_destroy(cairo_);
    cairo_surface_destroy(surface_);
  }
  Measurer(const Measurer&) = delete;
  Measurer& operator=(const Measurer&) = delete;

  cairo_t* at_size(double size) {
    use_font(cairo_, size);
    return cairo_;
  }

 private:
  cairo_surface_t* surface_;
  cairo_t* cairo_;
};

cairo_t* measuring(double size) {
  thread_local Measurer measurer;
  return measurer.at_size(size);
}

}  // namespace

Typography typography_for(int width, int height) {
  const double scale = std::clamp(std::min(width / 800.0, height / 500.0), 0.8, 3.0);
  Typography type;
  type.scale = scale;
  type.pad = std::round(12 * scale);
  type.gap = std::round(5 * scale);
  type.tick_length = std::round(5 * scale);
  type.tick_text = std::round(13 * scale);
  type.label_text = std::round(14 * scale);
  type.title_text = std::round(17 * scale);
  type.legend_text = std::round(13 * scale);
  return type;
}

void use_font(cairo_t* cairo, double size) {
  cairo_select_font_face(cairo, kFontFamily, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cairo, size);
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_SLIGHT);
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_set_font_options(cairo, options);
  cairo_font_options_destroy(options);
}

double text_width(std::string_view text, double size) {
  if (text.empty()) return 0;
  const std::string terminated(text);
  cairo_text_extents_t extents;
  cairo_text_extents(measuring(size), terminated.c_str(), &extents);
  return extents.x_advance;
}

double cap_height(double size) {
  cairo_text_extents_t extents;
  cairo_text_extents(measuring(size), "0", &extents);
  return -extents.y_bearing;
}

double descent(double size) {
  cairo_font_extents_t extents;
  cairo_font_extents(measuring(size), &extents);
  return extents.descent;
}

std::string fit_text(const std::string& text, double size, double max_width) {
  if (text_width(text, size) <= max_width) return text;
  std::string shortened = text;
  while (!shortened.empty()) {
    while (!shortened.empty() && (static_cast<unsigned char>(shortened.back()) & 0xc0) == 0x80) {
      shortened.pop_back();  // continuation bytes
    }
    if (!shortened.empty()) shortened.pop_back();  // the character's first byte
    if (text_width(shortened + "...", size) <= max_width) return shortened + "...";
  }
  return "";
}

}  // namespace tapegrad::plot::detail
