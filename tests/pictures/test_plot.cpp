// PNG plots: the files are real PNGs of the size drawn, written atomically; the pictures put
// dark cells where the weights are high; labels keep their accents; bad input is a gg::Error.

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "pictures/plot.h"
#include "testing.h"

namespace fs = std::filesystem;
using gg::pictures::Image;

namespace {

// A fresh directory for one test (testing.h's scratch_dir).
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(gg::testing::scratch_dir(name)) {}
};

struct PngHeader {
  bool signature_ok = false;
  uint32_t width = 0, height = 0;
};

// The 8-byte signature, then the IHDR chunk: length, "IHDR", width and height big-endian.
PngHeader read_png_header(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), sizeof(b));
  REQUIRE(in.gcount() == 24);
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  PngHeader h;
  h.signature_ok = std::equal(signature, signature + 8, b) && std::equal(b + 12, b + 16, "IHDR");
  h.width = (uint32_t{b[16]} << 24) | (uint32_t{b[17]} << 16) | (uint32_t{b[18]} << 8) | b[19];
  h.height = (uint32_t{b[20]} << 24) | (uint32_t{b[21]} << 16) | (uint32_t{b[22]} << 8) | b[23];
  return h;
}

double luminance(gg::pictures::Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b; }

// Where images a and b differ: the bounding box, and the mean luminance of a there.
struct Difference {
  int x0 = std::numeric_limits<int>::max(), y0 = x0, x1 = -1, y1 = -1;
  double luminance = 0;
};

Difference difference(const Image& a, const Image& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  Difference d;
  double n = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x)
      if (!(a.at(x, y) == b.at(x, y))) {
        d.x0 = std::min(d.x0, x), d.y0 = std::min(d.y0, y), d.x1 = std::max(d.x1, x), d.y1 = std::max(d.y1, y);
        d.luminance += luminance(a.at(x, y)), n += 1;
      }
  REQUIRE(n > 0);
  d.luminance /= n;
  return d;
}

// The message of the gg::Error that f throws, or what happened instead.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const gg::Error& e) {
    return e.what();
  } catch (...) {
    return "<not a gg::Error>";
  }
  return "<no exception>";
}

bool same(const Image& a, const Image& b) { return a.width == b.width && a.height == b.height && a.rgb == b.rgb; }

const std::vector<std::string> kSource = {"¿", "Dónde", "está", "el", "niño", "?"};
const std::vector<std::string> kTarget = {"Where", "is", "the", "boy", "?"};

// Mostly diagonal attention of the 5 target tokens over the 6 source tokens.
std::vector<float> toy_attention() {
  const int T = 5, S = 6;
  const int aligned[T] = {1, 2, 3, 4, 5};
  std::vector<float> w(T * S, 0.02f);
  for (int t = 0; t < T; ++t) w[t * S + aligned[t]] = 1.0f - 0.02f * (S - 1);
  return w;
}

}  // namespace

TEST_CASE("line plot: a PNG of the requested size, written atomically", "[pictures][plot]") {
  TempDir dir("loss");
  std::vector<double> steps, train, valid_steps, valid;
  for (int i = 0; i <= 200; ++i) {
    steps.push_back(i * 10);
    train.push_back(4.5 * std::exp(-i / 40.0) + 0.8 + 0.1 * std::sin(i));
  }
  for (int e = 0; e <= 10; ++e) valid_steps.push_back(e * 200), valid.push_back(4.0 * std::exp(-e / 2.0) + 1.1);
  train[57] = std::numeric_limits<double>::quiet_NaN();  // skipped, not an error
  const fs::path file = dir.path / "loss.png";
  const std::vector<gg::pictures::Series> series = {{.name = "train", .x = steps, .y = train},
                                                  {.name = "valid", .x = valid_steps, .y = valid}};
  gg::pictures::write_line_plot_png(file.string(), series,
                                  {.title = "Pérdida", .x_label = "step", .y_label = "loss", .width = 640,
                                   .height = 400});
  const PngHeader h = read_png_header(file);
  CHECK(h.signature_ok);
  CHECK(h.width == 640);
  CHECK(h.height == 400);
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
}

TEST_CASE("line plot: each series is drawn in its color, on linear and log axes", "[pictures][plot]") {
  const gg::pictures::Rgb red{200, 0, 0}, green{0, 150, 0};
  for (bool log_y : {false, true}) {
    const Image img = gg::pictures::render_line_plot(
        {{.name = "a", .x = {1, 2, 3, 4}, .y = {10, 1, 0.1, 0.01}, .color = red},
         {.name = "b", .x = {1, 4}, .y = {5, 5}, .color = green}},
        {.log_y = log_y});
    CHECK(img.width == 800);
    CHECK(img.height == 500);
    int n_red = 0, n_green = 0;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) n_red += img.at(x, y) == red, n_green += img.at(x, y) == green;
    CHECK(n_red > 200);
    CHECK(n_green > 200);
  }
}

TEST_CASE("heatmap: a PNG with Spanish labels", "[pictures][plot]") {
  TempDir dir("heatmap");
  const fs::path file = dir.path / "attention.png";
  gg::pictures::write_heatmap_png(file.string(), toy_attention(), 5, 6, kTarget, kSource,
                                {.title = "¿Dónde está el niño? → Where is the boy ?"});
  const PngHeader h = read_png_header(file);
  const Image img = gg::pictures::render_heatmap(toy_attention(), 5, 6, kTarget, kSource,
                                               {.title = "¿Dónde está el niño? → Where is the boy ?"});
  CHECK(h.signature_ok);
  CHECK(h.width == static_cast<uint32_t>(img.width));
  CHECK(h.height == static_cast<uint32_t>(img.height));
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
}

TEST_CASE("heatmap: weight 1 is dark and weight 0 white, row-major with rows down", "[pictures][plot]") {
  const std::vector<std::string> labels = {"a", "b"};
  auto render = [&](const std::vector<float>& w) {
    return gg::pictures::render_heatmap(w, 2, 2, labels, labels, {.show_values = false});
  };
  const Image zeros = render({0, 0, 0, 0});
  // Only the cell with weight 1 differs from the all-zero picture, which locates it.
  const Difference top_right = difference(render({0, 1, 0, 0}), zeros);
  const Difference bottom_left = difference(render({0, 0, 1, 0}), zeros);
  CHECK(top_right.luminance < 100);
  CHECK(bottom_left.luminance < 100);
  CHECK(top_right.x0 > bottom_left.x1);  // column 1 is right of column 0
  CHECK(top_right.y1 < bottom_left.y0);  // row 0 is above row 1
  const gg::pictures::Rgb white{255, 255, 255};
  CHECK(zeros.at((top_right.x0 + top_right.x1) / 2, (top_right.y0 + top_right.y1) / 2) == white);
}

TEST_CASE("heatmap: accents are drawn, unknown characters become '?'", "[pictures][plot]") {
  auto render = [](const std::string& label) { return gg::pictures::render_heatmap({0.5f}, 1, 1, {"x"}, {label}); };
  CHECK_FALSE(same(render("a"), render("á")));
  CHECK_FALSE(same(render("á"), render("à")));
  CHECK_FALSE(same(render("n"), render("ñ")));
  CHECK_FALSE(same(render("?"), render("¿")));
  CHECK_FALSE(same(render("E"), render("É")));
  CHECK(same(render("€"), render("?")));
  CHECK(same(render("\xff"), render("?")));  // malformed UTF-8
}

TEST_CASE("heatmap: 60 x 60 tokens stay within max_size", "[pictures][plot]") {
  std::vector<std::string> labels;
  for (int i = 0; i < 60; ++i) labels.push_back("palabra" + std::to_string(i));
  std::vector<float> w(60 * 60);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 61) / 60.0f;
  const Image img = gg::pictures::render_heatmap(w, 60, 60, labels, labels, {.title = "60 x 60"});
  CHECK(img.width <= 1200);
  CHECK(img.height <= 1200);
  CHECK(img.width >= 60 * 14);
}

TEST_CASE("plots: bad input is a gg::Error that says what is wrong", "[pictures][plot]") {
  using Catch::Matchers::Contains;
  TempDir dir("errors");
  const std::string missing = (dir.path / "no_such_dir" / "loss.png").string();
  CHECK_THAT(error_of([&] { gg::pictures::write_line_plot_png(missing, {{.name = "a", .x = {1, 2}, .y = {1, 2}}}); }),
             Contains(missing) && Contains("does not exist"));
  CHECK_THAT(error_of([&] { gg::pictures::write_heatmap_png(missing, {1}, 1, 1, {"a"}, {"b"}); }),
             Contains(missing) && Contains("does not exist"));
  CHECK_THAT(error_of([] { gg::pictures::render_line_plot({{.name = "valid", .x = {1, 2, 3}, .y = {1, 2}}}); }),
             Contains("series 'valid' has 3 x values but 2 y values"));
  CHECK_THAT(error_of([] { gg::pictures::render_line_plot({}); }), Contains("no series"));
  CHECK_THAT(error_of([] { gg::pictures::render_line_plot({{.x = {1}, .y = {-1}}}, {.log_y = true}); }),
             Contains("no finite points"));
  CHECK_THAT(error_of([] { gg::pictures::render_heatmap({1, 2, 3}, 2, 2, {"a", "b"}, {"c", "d"}); }),
             Contains("3 weights do not fill a 2 x 2 grid (expected 4)"));
  CHECK_THAT(error_of([] { gg::pictures::render_heatmap({1, 2, 3, 4}, 2, 2, {"a"}, {"c", "d"}); }),
             Contains("1 row labels for 2 rows"));
  CHECK(fs::is_empty(dir.path));  // nothing half-written
}
