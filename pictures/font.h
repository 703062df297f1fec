#pragma once
// The bitmap font the PNG plots (pictures/plot.cpp) draw their labels with.
#include <array>
#include <cstdint>

namespace gg::pictures::font {

// A 6x13 bitmap font drawn for glassgrad (no outside source). Glyphs are 5 pixels wide plus a
// column of spacing. Cell rows 0-2 hold marks over capitals, rows 3-9 the capital height
// (small letters from row 5), rows 10-11 descenders, row 12 the gap between lines. The table
// gives rows 3-11, '#' for ink; accented Latin-1 letters are composed from a base and a mark.
constexpr int kGlyphW = 6, kGlyphH = 13, kTop = 3;
using Bitmap = std::array<uint8_t, kGlyphH>;  // bit 4 is the leftmost column

// The glyph of a code point: ASCII and Latin-1, a few look-alikes beyond, '?' for the rest.
const Bitmap& glyph(char32_t code);

}  // namespace gg::pictures::font
