#include "pictures/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/error.h"
#include "core/file_io.h"
#include "data/utf8.h"
#include "pictures/font.h"

// stb_image_write (public domain, Debian's libstb-dev) compiled here, static so that it cannot
// clash with another copy in the same program; only its in-memory PNG encoder is used.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace gg::pictures {

Rgb Image::at(int x, int y) const {
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  return {rgb[i], rgb[i + 1], rgb[i + 2]};
}

namespace {

using font::Bitmap;
using font::glyph;
using font::kGlyphH;
using font::kGlyphW;
using font::kTop;

// A label's code points (data/utf8.h). Labels come from validated text; should one not be
// UTF-8, each byte that breaks it is drawn as '?' instead of failing the picture.
std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  std::string_view rest = s;
  while (!rest.empty()) {
    const std::optional<size_t> bad = data::find_invalid_utf8(rest);
    out += data::decode_utf8(rest.substr(0, bad.value_or(rest.size())));
    if (!bad) break;
    out += U'?';
    rest.remove_prefix(*bad + 1);
  }
  return out;
}

// A label of at most max_glyphs glyphs; a longer one is cut and ends in "..".
std::u32string label_text(const std::string& s, size_t max_glyphs = 1000) {
  std::u32string t = decode_utf8(s);
  if (t.size() > max_glyphs) t = t.substr(0, max_glyphs - 2) + U"..";
  return t;
}

int text_width(const std::u32string& t, int scale) {
  return t.empty() ? 0 : (static_cast<int>(t.size()) * kGlyphW - 1) * scale;
}

// ---- Drawing --------------------------------------------------------------------------------
constexpr Rgb kWhite{255, 255, 255}, kInk{34, 34, 34}, kFrame{68, 68, 68}, kGrid{232, 232, 232};

Image blank_image(int width, int height) {
  return {width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3, 255)};
}

void blend(Image& img, int x, int y, Rgb c, double alpha) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height || alpha <= 0) return;
  uint8_t* p = &img.rgb[(static_cast<size_t>(y) * img.width + x) * 3];
  const double a = std::min(alpha, 1.0);
  p[0] = static_cast<uint8_t>(std::lround(p[0] + (c.r - p[0]) * a));
  p[1] = static_cast<uint8_t>(std::lround(p[1] + (c.g - p[1]) * a));
  p[2] = static_cast<uint8_t>(std::lround(p[2] + (c.b - p[2]) * a));
}

void fill_rect(Image& img, int x, int y, int w, int h, Rgb c) {
  for (int yy = std::max(0, y); yy < std::min(img.height, y + h); ++yy)
    for (int xx = std::max(0, x); xx < std::min(img.width, x + w); ++xx) blend(img, xx, yy, c, 1);
}

void frame_rect(Image& img, int x, int y, int w, int h, Rgb c) {
  fill_rect(img, x, y, w, 1, c);
  fill_rect(img, x, y + h - 1, w, 1, c);
  fill_rect(img, x, y, 1, h, c);
  fill_rect(img, x + w - 1, y, 1, h, c);
}

// Horizontal text has its cell's top-left corner at (x, y). Vertical text is turned a quarter
// turn counter-clockwise, reads upwards, and has its bottom-left corner at (x, y).
void draw_text(Image& img, int x, int y, const std::u32string& t, Rgb c, int scale, bool vertical = false) {
  for (size_t i = 0; i < t.size(); ++i) {
    const Bitmap& g = glyph(t[i]);
    for (int row = 0; row < kGlyphH; ++row)
      for (int col = 0; col < 5; ++col) {
        if (!((g[row] >> (4 - col)) & 1)) continue;
        const int along = (static_cast<int>(i) * kGlyphW + col) * scale;
        if (vertical) fill_rect(img, x + row * scale, y - along - scale, scale, scale, c);
        else fill_rect(img, x + along, y + row * scale, scale, scale, c);
      }
  }
}

// Text centered on (cx, cy); the cell's middle row sits on cy.
void draw_text_centered(Image& img, int cx, int cy, const std::u32string& t, Rgb c, int scale) {
  draw_text(img, cx - text_width(t, scale) / 2, cy - kGlyphH * scale / 2, t, c, scale);
}

// ---- PNG file -------------------------------------------------------------------------------
void write_png(const char* op, const std::string& path, const Image& img) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  GG_CHECK(dir.empty() || fs::is_directory(dir, ec), "{}: cannot write '{}': directory '{}' does not exist", op, path,
           dir.string());
  std::vector<uint8_t> png;
  auto append = [](void* context, void* data, int size) {
    auto& bytes = *static_cast<std::vector<uint8_t>*>(context);
    bytes.insert(bytes.end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  GG_CHECK(stbi_write_png_to_func(append, &png, img.width, img.height, 3, img.rgb.data(), img.width * 3) != 0,
           "{}: cannot encode a {}x{} PNG for '{}'", op, img.width, img.height, path);
  write_file_atomic(path, std::string(png.begin(), png.end()));
}

// ---- Line plot ------------------------------------------------------------------------------
struct Tick {
  double value;  // in data units
  std::u32string label;
};

// About `target` round steps (1, 2 or 5 times a power of ten) across a span.
double nice_step(double span, int target) {
  const double raw = span / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
}

std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  const double step = nice_step(hi - lo, target);
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  std::vector<Tick> ticks;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) {
    const double v = k * step + 0.0;  // + 0.0 turns -0 into 0
    ticks.push_back({v, decode_utf8(fmt::format("{:.{}f}", v, decimals))});
  }
  return ticks;
}

// Ticks for a log axis spanning 10^lo .. 10^hi: powers of ten, then 1-2-5, then 1..9 times
// them, whichever first gives enough ticks; failing that, round numbers placed on the log axis.
std::vector<Tick> log_ticks(double lo, double hi, int target) {
  const int decade_step = std::max(1, static_cast<int>(std::ceil((hi - lo) / target)));
  const std::vector<std::vector<int>> mantissas = {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  for (size_t m = 0; m < mantissas.size(); ++m) {
    std::vector<Tick> ticks;
    for (int e = static_cast<int>(std::floor(lo)); e <= static_cast<int>(std::ceil(hi)); ++e) {
      if (m == 0 && e % decade_step != 0) continue;
      for (int k : mantissas[m]) {
        const double v = k * std::pow(10.0, e);
        if (std::log10(v) >= lo - 1e-9 && std::log10(v) <= hi + 1e-9)
          ticks.push_back({v, decode_utf8(fmt::format("{:g}", v))});
      }
    }
    if (ticks.size() >= (m < 2 ? 4u : 3u)) return ticks;
  }
  std::vector<Tick> ticks = linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), target);
  std::erase_if(ticks, [](const Tick& t) { return t.value <= 0; });
  return ticks;
}

const Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                        {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

struct Rect {
  int x0, y0, x1, y1;  // x0 <= x < x1, y0 <= y < y1
  bool contains(double x, double y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
};

// Coverage of a round-capped segment of radius r (a disc when a == b) into `cover`, a mask over
// `clip`: the max over segments, so joints and overlaps are not painted twice.
void cover_segment(std::vector<float>& cover, const Rect& clip, double ax, double ay, double bx, double by, double r) {
  const int w = clip.x1 - clip.x0;
  const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  const int xa = std::max(clip.x0, static_cast<int>(std::floor(std::min(ax, bx) - r - 1)));
  const int xb = std::min(clip.x1, static_cast<int>(std::ceil(std::max(ax, bx) + r + 1)));
  const int ya = std::max(clip.y0, static_cast<int>(std::floor(std::min(ay, by) - r - 1)));
  const int yb = std::min(clip.y1, static_cast<int>(std::ceil(std::max(ay, by) + r + 1)));
  for (int y = ya; y < yb; ++y)
    for (int x = xa; x < xb; ++x) {
      const double px = x + 0.5 - ax, py = y + 0.5 - ay;
      const double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
      const double d = std::hypot(px - t * dx, py - t * dy);
      float& c = cover[static_cast<size_t>(y - clip.y0) * w + (x - clip.x0)];
      c = std::max(c, static_cast<float>(std::clamp(r + 0.5 - d, 0.0, 1.0)));
    }
}

Image line_plot(const char* op, const std::vector<Series>& series, const PlotOptions& o) {
  GG_CHECK(!series.empty(), "{}: no series to plot", op);
  GG_CHECK(o.width >= 200 && o.height >= 150 && o.width <= 10000 && o.height <= 10000,
           "{}: image size {}x{} is out of range (expected 200x150 to 10000x10000)", op, o.width, o.height);
  for (const Series& s : series)
    GG_CHECK(s.x.size() == s.y.size(), "{}: series '{}' has {} x values but {} y values", op, s.name, s.x.size(),
             s.y.size());
  auto usable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!o.log_y || y > 0); };
  auto ty = [&](double y) { return o.log_y ? std::log10(y) : y; };
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size(); ++i)
      if (usable(s.x[i], s.y[i])) {
        x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, ty(s.y[i])), y1 = std::max(y1, ty(s.y[i]));
      }
  GG_CHECK(x0 <= x1, "{}: no finite points to plot{}", op, o.log_y ? " (a log-scale y axis also skips y <= 0)" : "");
  GG_CHECK(std::isfinite(x1 - x0) && std::isfinite(y1 - y0), "{}: the data spans more than a double can hold", op);
  if (x0 == x1) {
    const double x_pad = std::max(std::abs(x0) * 0.1, 1.0);
    x0 -= x_pad, x1 += x_pad;
  }
  const double y_pad = y0 == y1 ? (o.log_y ? 0.5 : std::max(std::abs(y0) * 0.1, 1e-3)) : (y1 - y0) * 0.05;
  y0 -= y_pad, y1 += y_pad;

  // Layout: s scales fonts and strokes for big images; margins make room for the labels.
  const int s = std::max(1, std::min(o.width / 800, o.height / 500)), ch = kGlyphH * s, pad = 10 * s, tick = 5 * s;
  const std::vector<Tick> yticks = o.log_y ? log_ticks(y0, y1, std::clamp(o.height / (80 * s), 3, 10))
                                           : linear_ticks(y0, y1, std::clamp(o.height / (80 * s), 3, 10));
  int x_target = std::clamp(o.width / (110 * s), 3, 12);
  std::vector<Tick> xticks = linear_ticks(x0, x1, x_target);
  int ytick_w = 0, xtick_w = 0;
  for (const Tick& t : yticks) ytick_w = std::max(ytick_w, text_width(t.label, s));
  for (const Tick& t : xticks) xtick_w = std::max(xtick_w, text_width(t.label, s));
  const std::u32string title = label_text(o.title), x_label = label_text(o.x_label), y_label = label_text(o.y_label);
  const int left = pad + (y_label.empty() ? 0 : ch + pad / 2) + ytick_w + tick + 3 * s;
  const int top = pad + (title.empty() ? ch / 2 : 2 * ch + pad / 2);
  const int bottom = tick + 2 * s + ch + (x_label.empty() ? 0 : ch + pad / 2) + pad / 2;
  const int right = std::max(2 * pad, xtick_w / 2 + pad);
  const Rect plot{left, top, o.width - right, o.height - bottom};
  GG_CHECK(plot.x1 - plot.x0 >= 50 && plot.y1 - plot.y0 >= 50,
           "{}: a {}x{} image leaves no room for the plot between its labels", op, o.width, o.height);
  const double pw = plot.x1 - plot.x0, ph = plot.y1 - plot.y0;
  auto X = [&](double x) { return plot.x0 + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return plot.y1 - (ty(y) - y0) / (y1 - y0) * ph; };
  // Fewer x ticks until their labels no longer touch.
  while (x_target > 2 && xticks.size() > 1 && X(xticks[1].value) - X(xticks[0].value) < xtick_w + 3 * kGlyphW * s) {
    xticks = linear_ticks(x0, x1, --x_target);
    xtick_w = 0;
    for (const Tick& t : xticks) xtick_w = std::max(xtick_w, text_width(t.label, s));
  }

  Image img = blank_image(o.width, o.height);
  for (const Tick& t : yticks) fill_rect(img, plot.x0, static_cast<int>(Y(t.value)), plot.x1 - plot.x0, 1, kGrid);
  for (const Tick& t : xticks) fill_rect(img, static_cast<int>(X(t.value)), plot.y0, 1, plot.y1 - plot.y0, kGrid);

  // Lines: each series' coverage mask is painted once, so a dense curve keeps its soft edges.
  std::vector<Rgb> colors;
  std::vector<std::vector<std::pair<double, double>>> pixels(series.size());  // usable points, for the legend
  std::vector<float> cover(static_cast<size_t>(pw) * static_cast<size_t>(ph));
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& ser = series[k];
    colors.push_back(ser.color.value_or(kPalette[k % std::size(kPalette)]));
    std::fill(cover.begin(), cover.end(), 0.0f);
    size_t n_usable = 0;
    for (size_t i = 0; i < ser.x.size(); ++i) n_usable += usable(ser.x[i], ser.y[i]);
    const double r = 1.0 * s, marker = 2.6 * s;
    for (size_t i = 0; i < ser.x.size(); ++i) {
      if (!usable(ser.x[i], ser.y[i])) continue;
      const double ax = X(ser.x[i]), ay = Y(ser.y[i]);
      pixels[k].emplace_back(ax, ay);
      const bool next = i + 1 < ser.x.size() && usable(ser.x[i + 1], ser.y[i + 1]);
      const bool prev = i > 0 && usable(ser.x[i - 1], ser.y[i - 1]);
      if (next) cover_segment(cover, plot, ax, ay, X(ser.x[i + 1]), Y(ser.y[i + 1]), r);
      if (n_usable <= 30 || (!next && !prev)) cover_segment(cover, plot, ax, ay, ax, ay, marker);
    }
    for (int y = plot.y0; y < plot.y1; ++y)
      for (int x = plot.x0; x < plot.x1; ++x)
        blend(img, x, y, colors[k], cover[static_cast<size_t>(y - plot.y0) * static_cast<size_t>(pw) + (x - plot.x0)]);
  }

  // Axes: a frame, ticks pointing out, labels.
  frame_rect(img, plot.x0 - 1, plot.y0 - 1, plot.x1 - plot.x0 + 2, plot.y1 - plot.y0 + 2, kFrame);
  for (const Tick& t : yticks) {
    const int y = static_cast<int>(Y(t.value));
    fill_rect(img, plot.x0 - 1 - tick, y, tick, s, kFrame);
    draw_text(img, plot.x0 - tick - 3 * s - text_width(t.label, s), y - kGlyphH * s / 2, t.label, kInk, s);
  }
  for (const Tick& t : xticks) {
    const int x = static_cast<int>(X(t.value));
    fill_rect(img, x, plot.y1 + 1, s, tick, kFrame);
    draw_text(img, x - text_width(t.label, s) / 2, plot.y1 + tick + 2 * s - kTop * s / 2, t.label, kInk, s);
  }
  if (!title.empty()) draw_text_centered(img, o.width / 2, pad + ch, title, kInk, 2 * s);
  if (!x_label.empty()) draw_text_centered(img, (plot.x0 + plot.x1) / 2, o.height - pad / 2 - ch / 2, x_label, kInk, s);
  if (!y_label.empty())
    draw_text(img, pad, (plot.y0 + plot.y1) / 2 + text_width(y_label, s) / 2, y_label, kInk, s, true);

  // Legend, in the corner of the plot the lines cross least.
  std::vector<size_t> named;
  std::vector<std::u32string> names;
  int name_w = 0;
  for (size_t k = 0; k < series.size(); ++k)
    if (!series[k].name.empty()) {
      named.push_back(k), names.push_back(label_text(series[k].name, 40));
      name_w = std::max(name_w, text_width(names.back(), s));
    }
  if (named.empty()) return img;
  const int row_h = ch + 3 * s, sample = 22 * s, inset = 8 * s;
  const int box_w = sample + name_w + 3 * pad / 2 + 6 * s, box_h = static_cast<int>(named.size()) * row_h + pad;
  Rect best{};
  size_t best_hits = std::numeric_limits<size_t>::max();
  for (int corner = 0; corner < 4; ++corner) {  // top-right, top-left, bottom-right, bottom-left
    const int bx = corner % 2 == 0 ? plot.x1 - inset - box_w : plot.x0 + inset;
    const int by = corner < 2 ? plot.y0 + inset : plot.y1 - inset - box_h;
    const Rect box{bx, by, bx + box_w, by + box_h};
    size_t hits = 0;  // points sampled every pixel along the lines
    for (const auto& line : pixels)
      for (size_t i = 0; i < line.size(); ++i) {
        const auto [ax, ay] = line[i];
        const auto [bx2, by2] = i + 1 < line.size() ? line[i + 1] : line[i];
        const int steps = 1 + static_cast<int>(std::hypot(bx2 - ax, by2 - ay));
        for (int j = 0; j < steps; ++j) hits += box.contains(ax + (bx2 - ax) * j / steps, ay + (by2 - ay) * j / steps);
      }
    if (hits < best_hits) best_hits = hits, best = box;
  }
  fill_rect(img, best.x0, best.y0, box_w, box_h, kWhite);
  frame_rect(img, best.x0, best.y0, box_w, box_h, Rgb{187, 187, 187});
  for (size_t n = 0; n < named.size(); ++n) {
    const int cy = best.y0 + pad / 2 + static_cast<int>(n) * row_h + row_h / 2;
    fill_rect(img, best.x0 + pad / 2 + s, cy - s, sample, 2 * s, colors[named[n]]);
    draw_text(img, best.x0 + pad / 2 + sample + 6 * s, cy - kGlyphH * s / 2, names[n], kInk, s);
  }
  return img;
}

// ---- Heatmap --------------------------------------------------------------------------------
// White to dark blue, lightness falling steadily (ColorBrewer's "Blues", starting from white).
Rgb heat_color(float w) {
  static const Rgb stops[] = {{255, 255, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225}, {107, 174, 214},
                              {66, 146, 198},  {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
  if (std::isnan(w)) return {190, 190, 190};
  const double t = std::clamp(static_cast<double>(w), 0.0, 1.0) * (std::size(stops) - 1);
  const size_t i = std::min(static_cast<size_t>(t), std::size(stops) - 2);
  const double f = t - i;
  auto mix = [&](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * f)); };
  return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g), mix(stops[i].b, stops[i + 1].b)};
}

bool is_dark(Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 140; }

Image heatmap(const char* op, const std::vector<float>& weights, int64_t rows, int64_t cols,
              const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
              const HeatmapOptions& o) {
  GG_CHECK(rows > 0 && cols > 0 && rows <= 4096 && cols <= 4096,
           "{}: a {} x {} grid is out of range (expected 1 to 4096 rows and columns)", op, rows, cols);
  GG_CHECK(weights.size() == static_cast<size_t>(rows * cols),
           "{}: {} weights do not fill a {} x {} grid (expected {})", op, weights.size(), rows, cols, rows * cols);
  GG_CHECK(row_labels.size() == static_cast<size_t>(rows),
           "{}: {} row labels for {} rows (expected one per target token)", op, row_labels.size(), rows);
  GG_CHECK(col_labels.size() == static_cast<size_t>(cols),
           "{}: {} column labels for {} columns (expected one per source token)", op, col_labels.size(), cols);
  GG_CHECK(o.max_size >= 200, "{}: max_size {} is too small (expected at least 200)", op, o.max_size);
  const int T = static_cast<int>(rows), S = static_cast<int>(cols);
  std::vector<std::u32string> row_text, col_text;
  size_t row_glyphs = 0, col_glyphs = 0;  // of the longest label
  for (const auto& l : row_labels) row_text.push_back(label_text(l, 24));
  for (const auto& l : col_labels) col_text.push_back(label_text(l, 24));
  for (const auto& t : row_text) row_glyphs = std::max(row_glyphs, t.size());
  for (const auto& t : col_text) col_glyphs = std::max(col_glyphs, t.size());
  const std::u32string title = label_text(o.title);

  // Layout: the largest text scale (2, else 1) whose cells still hold a line of text.
  int s = 2, cell = 0, left = 0, top = 0, pad = 0, bar_block = 0;
  bool vertical = true;
  for (; s >= 1; --s) {
    pad = 10 * s;
    const int cw = kGlyphW * s, ch = kGlyphH * s, title_h = title.empty() ? 0 : kGlyphH * (s + 1) + pad / 2;
    left = pad + static_cast<int>(row_glyphs) * cw + cw;
    bar_block = 2 * cw + 14 * s + 8 * s + 4 * cw + pad;  // gap, bar, tick, "0.25", margin
    const int max_cell = 36 * s;
    const int fit_w = (o.max_size - left - bar_block) / S;
    const int horizontal_top = pad + title_h + ch + s;
    const int vertical_top = pad + title_h + static_cast<int>(col_glyphs) * cw + cw;
    // Column labels lie flat when each fits its cell, else they stand up.
    const int flat_cell = std::min({max_cell, fit_w, (o.max_size - horizontal_top - pad) / T});
    vertical = static_cast<int>(col_glyphs) * cw + 2 * s > flat_cell;
    top = vertical ? vertical_top : horizontal_top;
    cell = vertical ? std::min({max_cell, fit_w, (o.max_size - top - pad) / T}) : flat_cell;
    if (cell >= ch + 2 * s || s == 1) break;
  }
  const int cw = kGlyphW * s, ch = kGlyphH * s;
  cell = std::max(cell, ch + 2);
  const int grid_w = S * cell, grid_h = T * cell, gx = left, gy = top;
  const int bar_h = std::max(grid_h, 100 * s), bar_x = gx + grid_w + 2 * cw, bar_w = 14 * s;
  const int width = std::max(gx + grid_w + bar_block, text_width(title, s + 1) + 2 * pad);
  const int height = gy + bar_h + pad;

  Image img = blank_image(width, height);
  if (!title.empty()) draw_text(img, (width - text_width(title, s + 1)) / 2, pad, title, kInk, s + 1);
  // Cells, with a value where "0.00" fits: at the label scale, else at scale 1.
  const int value_scale = text_width(U"0.00", s) + 4 * s <= cell ? s : text_width(U"0.00", 1) + 4 <= cell ? 1 : 0;
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < S; ++j) {
      const float w = weights[static_cast<size_t>(i) * S + j];
      const Rgb c = heat_color(w);
      fill_rect(img, gx + j * cell, gy + i * cell, cell, cell, c);
      if (o.show_values && value_scale > 0 && std::isfinite(w) && w >= 0.005f)
        draw_text_centered(img, gx + j * cell + cell / 2, gy + i * cell + cell / 2,
                           decode_utf8(fmt::format("{:.2f}", w)), is_dark(c) ? kWhite : kInk, value_scale);
    }
  const Rgb kLine{214, 214, 214};
  for (int i = 1; i < T; ++i) fill_rect(img, gx, gy + i * cell, grid_w, 1, kLine);
  for (int j = 1; j < S; ++j) fill_rect(img, gx + j * cell, gy, 1, grid_h, kLine);
  frame_rect(img, gx - 1, gy - 1, grid_w + 2, grid_h + 2, kFrame);
  // Target tokens down the left, source tokens along the top.
  for (int i = 0; i < T; ++i)
    draw_text(img, gx - cw - text_width(row_text[i], s), gy + i * cell + cell / 2 - ch / 2, row_text[i], kInk, s);
  for (int j = 0; j < S; ++j) {
    if (vertical) draw_text(img, gx + j * cell + (cell - ch) / 2, gy - cw / 2, col_text[j], kInk, s, true);
    else draw_text(img, gx + j * cell + (cell - text_width(col_text[j], s)) / 2, gy - ch - s, col_text[j], kInk, s);
  }
  // Color bar, 1 at the top.
  for (int y = 0; y < bar_h; ++y)
    fill_rect(img, bar_x, gy + y, bar_w, 1, heat_color(static_cast<float>(1.0 - (y + 0.5) / bar_h)));
  frame_rect(img, bar_x - 1, gy - 1, bar_w + 2, bar_h + 2, kFrame);
  const std::vector<double> bar_ticks =
      bar_h >= 8 * ch ? std::vector<double>{0, 0.25, 0.5, 0.75, 1} : std::vector<double>{0, 0.5, 1};
  for (double v : bar_ticks) {
    const int y = gy + static_cast<int>(std::lround((1 - v) * (bar_h - s)));
    fill_rect(img, bar_x + bar_w + 1, y, 4 * s, s, kFrame);
    draw_text(img, bar_x + bar_w + 8 * s, y - ch / 2, decode_utf8(fmt::format("{:g}", v)), kInk, s);
  }
  return img;
}

}  // namespace

void write_line_plot_png(const std::string& path, const std::vector<Series>& series, const PlotOptions& options) {
  write_png("write_line_plot_png", path, line_plot("write_line_plot_png", series, options));
}

Image render_line_plot(const std::vector<Series>& series, const PlotOptions& options) {
  return line_plot("render_line_plot", series, options);
}

void write_heatmap_png(const std::string& path, const std::vector<float>& weights, int64_t rows, int64_t cols,
                       const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                       const HeatmapOptions& options) {
  write_png("write_heatmap_png", path,
            heatmap("write_heatmap_png", weights, rows, cols, row_labels, col_labels, options));
}

Image render_heatmap(const std::vector<float>& weights, int64_t rows, int64_t cols,
                     const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                     const HeatmapOptions& options) {
  return heatmap("render_heatmap", weights, rows, cols, row_labels, col_labels, options);
}

}  // namespace gg::pictures
