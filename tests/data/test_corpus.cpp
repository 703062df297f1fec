// Corpus readers (TSV and line-aligned pairs), bad-line handling, and splits.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data_testing.h"

using namespace gg::testing;

using namespace gg::data;
using Indices = std::vector<int64_t>;

namespace {

// Line 2 has one column, line 4 an empty Spanish side, line 5 invalid UTF-8, line 6 a blank
// line; line 7 has an extra (attribution) column, which is fine.
const char* kTsv =
    "Go.\tVe.\n"
    "Hi.\n"
    "Run!\t¡Corre!\r\n"
    "Who?\t  \n"
    "Wow!\t\xA1\x42uau!\n"
    "\n"
    "I'm here.\tEstoy aquí.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (Tom)\n";

std::vector<SentencePair> numbered(int64_t n) {
  std::vector<SentencePair> pairs;
  for (int64_t i = 0; i < n; ++i) pairs.push_back({fmt::format("s{}", i), fmt::format("t{}", i), i});
  return pairs;
}

}  // namespace

TEST_CASE("read_tsv: columns are 1-based, a bad line is an error naming file and line", "[data]") {
  TempDir dir("tsv_errors");
  auto path = write_file(dir.file("spa.txt"), kTsv);
  CHECK_THROWS_WITH(read_tsv(path, 2, 1), Contains("spa.txt:2: no column 2 (the line has 1 column)"));

  auto only_empty = write_file(dir.file("empty.txt"), "Go.\tVe.\nWho?\t  \n");
  CHECK_THROWS_WITH(read_tsv(only_empty, 2, 1), Contains("empty.txt:2: empty source (column 2)"));
  CHECK_THROWS_WITH(read_tsv(only_empty, 1, 2), Contains("empty.txt:2: empty target (column 2)"));
  auto latin1 = write_file(dir.file("latin1.txt"), "Go.\tVe.\nWow!\t\xA1\x42uau!\n");
  CHECK_THROWS_WITH(read_tsv(latin1, 2, 1), Contains("latin1.txt:2: invalid UTF-8 at byte 6 (0xA1)"));
  CHECK_THROWS_WITH(read_tsv(path, 4, 1), Contains("spa.txt:1: no column 4 (the line has 2 columns)"));
  CHECK_THROWS_WITH(read_tsv(path, 0, 1), Contains("1-based"));
  CHECK_THROWS_WITH(read_tsv(dir.file("nope.txt"), 2, 1), Contains("cannot open") && Contains("nope.txt"));
}

TEST_CASE("read_tsv: skip_bad skips and counts every kind of bad line", "[data]") {
  TempDir dir("tsv_skip");
  auto path = write_file(dir.file("spa.txt"), kTsv);
  auto corpus = read_tsv(path, 2, 1, {.skip_bad = true});
  REQUIRE(corpus.pairs.size() == 3);
  CHECK(corpus.pairs[0].src == "Ve.");
  CHECK(corpus.pairs[0].tgt == "Go.");
  CHECK(corpus.pairs[1].src == "¡Corre!");  // the \r of a CRLF line is gone
  CHECK(corpus.pairs[2].src == "Estoy aquí.");
  CHECK(corpus.pairs[2].tgt == "I'm here.");
  CHECK(Indices{corpus.pairs[0].index, corpus.pairs[1].index, corpus.pairs[2].index} == Indices{0, 2, 6});
  const auto& s = corpus.summary;
  CHECK(s.lines_read == 7);
  CHECK(s.pairs_kept == 3);
  CHECK(s.skipped_missing_column == 2);  // "Hi." and the blank line
  CHECK(s.skipped_empty == 1);
  CHECK(s.skipped_invalid_utf8 == 1);
  CHECK(s.skipped_unpaired == 0);
  CHECK(s.skipped() == 4);
  CHECK(s.str() == "7 lines, 3 pairs kept, 4 skipped (missing column 2, empty side 1, invalid UTF-8 1, unpaired 0)");
}

TEST_CASE("read_tsv: trimming is optional", "[data]") {
  TempDir dir("tsv_trim");
  auto path = write_file(dir.file("a.tsv"), " uno \t one\n");
  CHECK(read_tsv(path, 1, 2).pairs[0].src == "uno");
  CHECK(read_tsv(path, 1, 2, {.trim = false}).pairs[0].src == " uno ");
}

TEST_CASE("read_parallel: line-aligned files, different lengths name file and line", "[data]") {
  TempDir dir("parallel");
  auto de = write_file(dir.file("train.de"), "Guten Morgen.\nDanke.\n\nTschüss.\nNoch eine.\n");
  auto en = write_file(dir.file("train.en"), "Good morning.\nThanks.\nEmpty source.\nBye.\n");
  CHECK_THROWS_WITH(read_parallel(de, en), Contains("train.de:3: empty source"));
  auto de_ok = write_file(dir.file("ok.de"), "Guten Morgen.\nDanke.\nNoch eine.\n");
  CHECK_THROWS_WITH(read_parallel(de_ok, dir.file("train.en")),
                    Contains("train.en:4:") && Contains("ok.de ended after 3 lines"));

  auto corpus = read_parallel(de, en, {.skip_bad = true});
  REQUIRE(corpus.pairs.size() == 3);
  CHECK(corpus.pairs[1].src == "Danke.");
  CHECK(corpus.pairs[1].tgt == "Thanks.");
  CHECK(corpus.pairs[2].src == "Tschüss.");
  CHECK(corpus.pairs[2].index == 3);
  CHECK(corpus.summary.lines_read == 5);
  CHECK(corpus.summary.skipped_empty == 1);
  CHECK(corpus.summary.skipped_unpaired == 1);
}

TEST_CASE("split_by_index_mod: i % 50 == 0 test, == 1 valid, else train", "[data]") {
  auto pairs = numbered(120);
  auto split = split_by_index_mod(pairs);
  CHECK(split.test == Indices{0, 50, 100});
  CHECK(split.valid == Indices{1, 51, 101});
  CHECK(split.train.size() == 114);
  CHECK(std::find(split.train.begin(), split.train.end(), 2) != split.train.end());
  // Indices, not positions: dropping a pair does not move the others between parts.
  pairs.erase(pairs.begin() + 10);
  auto again = split_by_index_mod(pairs);
  CHECK(again.test == split.test);
  CHECK(again.valid == split.valid);
  CHECK(again.train.size() == 113);

  auto other = split_by_index_mod(numbered(30), {.modulus = 10, .test_residue = 3, .valid_residue = 7});
  CHECK(other.test == Indices{3, 13, 23});
  CHECK(other.valid == Indices{7, 17, 27});
  CHECK_THROWS_WITH(split_by_index_mod(pairs, {.modulus = 10, .test_residue = 2, .valid_residue = 2}),
                    Contains("residues must be distinct"));
}

TEST_CASE("split_random: seeded, disjoint, sized by fractions", "[data]") {
  auto pairs = numbered(1000);
  auto a = split_random(pairs, {.valid_fraction = 0.1, .test_fraction = 0.05, .seed = 7});
  CHECK(a.test.size() == 50);
  CHECK(a.valid.size() == 100);
  CHECK(a.train.size() == 850);
  std::set<int64_t> all(a.train.begin(), a.train.end());
  all.insert(a.valid.begin(), a.valid.end());
  all.insert(a.test.begin(), a.test.end());
  CHECK(all.size() == 1000);
  CHECK(std::is_sorted(a.test.begin(), a.test.end()));
  CHECK(split_random(pairs, {.valid_fraction = 0.1, .test_fraction = 0.05, .seed = 7}) == a);
  CHECK_FALSE(split_random(pairs, {.valid_fraction = 0.1, .test_fraction = 0.05, .seed = 8}) == a);
  CHECK_THROWS_WITH(split_random(pairs, {.valid_fraction = 0.6, .test_fraction = 0.6}), Contains("sum to at most 1"));
}

TEST_CASE("Split: save, load and apply, load errors name file and line", "[data]") {
  TempDir dir("split_io");
  auto pairs = numbered(200);
  auto split = split_by_index_mod(pairs);
  save_split(split, dir.file("split.txt"));
  CHECK(load_split(dir.file("split.txt")) == split);

  auto parts = apply_split(pairs, split);
  CHECK(parts.test.size() == 4);
  CHECK(parts.test[1].src == "s50");
  CHECK(parts.valid[3].tgt == "t151");
  CHECK(parts.train.size() == 192);
  CHECK_THROWS_WITH(apply_split(numbered(100), split), Contains("the 'train' part has index 102 but no pair does"));

  auto overlap = write_file(dir.file("overlap.txt"), "train 2\n5\n6\nvalid 1\n7\ntest 1\n6\n");
  CHECK_THROWS_WITH(load_split(overlap), Contains("overlap.txt:7: index 6 is already in 'train'"));
  auto garbage = write_file(dir.file("garbage.txt"), "train 2\n5\nsix\nvalid 0\ntest 0\n");
  CHECK_THROWS_WITH(load_split(garbage), Contains("garbage.txt:3: expected an index, got 'six'"));
  auto header = write_file(dir.file("header.txt"), "train 1\n5\ntest 0\nvalid 0\n");
  CHECK_THROWS_WITH(load_split(header), Contains("header.txt:3: expected 'valid <count>', got 'test 0'"));
  auto truncated = write_file(dir.file("truncated.txt"), "train 3\n1\n2\n");
  CHECK_THROWS_WITH(load_split(truncated), Contains("ends inside 'train' after 2 of 3 indices"));
}

TEST_CASE("Tatoeba spa.txt: reading and the benchmark split", "[data][corpus]") {
  GG_REQUIRE_SPA();
  auto corpus = read_tsv(spa_path(), 2, 1);
  CHECK(corpus.summary.lines_read == 118964);
  CHECK(corpus.summary.pairs_kept == 118964);
  CHECK(corpus.pairs[0].src == "Ve.");
  CHECK(corpus.pairs[0].tgt == "Go.");
  auto split = split_by_index_mod(corpus.pairs);
  CHECK(split.test.size() == 2380);   // 0, 50, ..., 118950
  CHECK(split.valid.size() == 2380);  // 1, 51, ..., 118951
  CHECK(split.train.size() == 114204);
  CHECK(split.test.back() == 118950);
  CHECK(split.valid.back() == 118951);
  auto parts = apply_split(corpus.pairs, split);
  CHECK(parts.test[1].index == 50);
  CHECK(parts.test[1].src == corpus.pairs[50].src);
}
