#pragma once
// Pictures of training runs and attention, written as PNG files: a line chart (loss curves)
// and an attention heatmap (the picture pictures/attention_text.h draws as text). Both draw into an
// RGB buffer with a small bitmap font (ASCII and Latin-1, so Spanish labels keep their
// accents) and write it atomically: to path + ".tmp", then renamed over path.
//
//   gg::pictures::write_line_plot_png("loss.png",
//       {{.name = "train", .x = steps, .y = train_loss}, {.name = "valid", .x = epochs, .y = valid_loss}},
//       {.title = "Loss", .x_label = "step", .y_label = "cross-entropy", .log_y = true});
//
// Dimension letters: T target length (heatmap rows), S source length (heatmap columns).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gg::pictures {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// An image in memory: rows top to bottom, 3 bytes (R, G, B) per pixel.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb{};
  Rgb at(int x, int y) const;  // 0 <= x < width, 0 <= y < height
};

struct Series {
  std::string name{};  // shown in the legend; an empty name leaves the series out of it
  std::vector<double> x{}, y{};
  std::optional<Rgb> color{};  // unset: the next color of a 10-color palette
};

struct PlotOptions {
  std::string title{}, x_label{}, y_label{};
  int width = 800, height = 500;
  bool log_y = false;  // log-scale y axis; points with y <= 0 are then skipped like NaNs
};

// Lines through (x, y) in the order given, with axes, ticks, grid and a legend. A non-finite
// point is skipped and breaks its line; a short series (<= 30 points) also gets markers.
void write_line_plot_png(const std::string& path, const std::vector<Series>& series, const PlotOptions& options = {});
Image render_line_plot(const std::vector<Series>& series, const PlotOptions& options = {});

struct HeatmapOptions {
  std::string title{};
  bool show_values = true;  // print weights (0.91) in cells big enough to hold them
  int max_size = 1200;      // cells shrink (down to the label height) to keep the image within this many pixels
};

// weights [T, S] row-major, T = rows = row_labels.size() (target tokens, down the left side),
// S = cols = col_labels.size() (source tokens, along the top). Weights shade cells from white
// (0) to dark blue (1), with a color bar; values outside [0, 1] are clamped, NaN cells are grey.
void write_heatmap_png(const std::string& path, const std::vector<float>& weights, int64_t rows, int64_t cols,
                       const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                       const HeatmapOptions& options = {});
Image render_heatmap(const std::vector<float>& weights, int64_t rows, int64_t cols,
                     const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                     const HeatmapOptions& options = {});

}  // namespace gg::pictures
