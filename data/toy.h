#pragma once
// Toy translation tasks: seeded generators of sentence pairs, small enough that a tiny model
// learns them in minutes, each with a known answer for tests and for attention pictures.
//
//   copy     "k3b9a"               -> "k3b9a"           attention: the diagonal
//   reverse  "k3b9a"               -> "a9b3k"           the anti-diagonal
//   sort     "k3b9a"               -> "39abk"           content-based, no fixed pattern
//   dates    "Friday, 7 Apr 2023"  -> "2023-04-07"      many formats to one (year 1950..2049)
//   reorder  "the big dog sees a small cat" -> "la vok gran un mira pek vida"
//            a made-up language with nouns before adjectives and the verb last, so the
//            alignment is not monotonic
//
//   const ToyTask& task = toy_task("dates");
//   auto pairs = task.generate(10000, /*seed=*/1);
//   auto tok = task.make_tokenizer();   // CharTokenizer for the first four, WordTokenizer for reorder
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"

namespace gg::data {

struct ToySequenceOptions {
  int64_t min_length = 4;
  int64_t max_length = 12;
  std::string alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";  // ASCII; sort uses its byte order
};

// Pairs index 0..count-1; the same (count, seed, options) gives the same pairs.
std::vector<SentencePair> toy_copy(int64_t count, uint64_t seed, const ToySequenceOptions& options = {});
std::vector<SentencePair> toy_reverse(int64_t count, uint64_t seed, const ToySequenceOptions& options = {});
std::vector<SentencePair> toy_sort(int64_t count, uint64_t seed, const ToySequenceOptions& options = {});

// Dates between 1950-01-01 and 2049-12-31 written in one of toy_date_formats() formats;
// the target is always ISO 8601 (digits and '-'). Two-digit years read 50..99 as 19xx and
// 00..49 as 20xx, so every source names exactly one date.
std::vector<SentencePair> toy_dates(int64_t count, uint64_t seed);
// The source of the date (year, month, day) in format number `format` (see toy_date_formats).
std::string format_date(int year, int month, int day, int format);
const std::vector<std::string>& toy_date_formats();  // a description of each, e.g. "Friday, 7 Apr 2023"

// The synthetic language pair. Source: English-like, "det [adj] noun verb det [adj] noun
// [adverb]"; target: each word through a fixed lexicon of 30 entries, with every adjective
// after its noun and the verb (after any adverb) at the end.
std::vector<SentencePair> toy_reorder(int64_t count, uint64_t seed);
const std::vector<std::pair<std::string, std::string>>& toy_reorder_lexicon();  // (source, target) words
// For each target word of the translation of `source`, the position of the source word it
// translates: the gold alignment an attention picture can be compared against.
std::vector<int64_t> toy_reorder_alignment(std::string_view source);
// Translates a source sentence of the reorder task (unknown words are an error).
std::string toy_reorder_translate(std::string_view source);

struct ToyTask {
  std::string name;
  std::string description;
  std::function<std::vector<SentencePair>(int64_t count, uint64_t seed)> generate;
  std::function<std::unique_ptr<Tokenizer>()> make_tokenizer;  // the natural tokenizer of both sides
};

const std::vector<ToyTask>& toy_tasks();          // copy, reverse, sort, dates, reorder
const ToyTask& toy_task(std::string_view name);   // an unknown name lists the known ones

}  // namespace gg::data
