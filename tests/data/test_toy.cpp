// Toy tasks: copy, reverse, sort, dates (parsed back independently), the reordering language.
#include <algorithm>
#include <cctype>
#include <map>
// GCC 12's <regex> trips a false -Wmaybe-uninitialized inside std::function at -O1 (the
// sanitizer build); the warning is about the library header, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/random.h"
#include "data/toy.h"
#include "data/utf8.h"
#include "data_testing.h"

using namespace gg::testing;

using namespace gg::data;

namespace {

// An independent reader of every format toy_dates writes: returns "YYYY-MM-DD".
std::string parse_date(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::regex compact(R"(^(\d{4})(\d{2})(\d{2})$)");
  std::smatch m;
  if (std::regex_match(s, m, compact)) return m[1].str() + "-" + m[2].str() + "-" + m[3].str();
  static const std::regex weekday(R"(\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b)");
  static const std::regex ordinal(R"((\d+)(st|nd|rd|th)\b)");
  static const std::regex of(R"(\bof\b)");
  s = std::regex_replace(s, weekday, "");
  s = std::regex_replace(s, ordinal, "$1");
  s = std::regex_replace(s, of, "");
  static const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  std::vector<std::string> numbers;
  int month = 0;
  static const std::regex token(R"([a-z]+|\d+)");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), token); it != std::sregex_iterator(); ++it) {
    std::string t = it->str();
    if (std::isdigit(static_cast<unsigned char>(t[0]))) {
      numbers.push_back(t);
      continue;
    }
    for (int k = 0; k < 12; ++k) {
      if (t.rfind(months[k], 0) == 0) month = k + 1;
    }
    if (month == 0) return "unparsed word '" + t + "'";
  }
  auto year_of = [](const std::string& y) { return y.size() == 4 ? std::stoi(y) : (std::stoi(y) >= 50 ? 1900 : 2000) + std::stoi(y); };
  int y = 0, d = 0;
  if (month != 0 && numbers.size() == 2) {
    bool first_is_year = numbers[0].size() == 4;
    y = year_of(first_is_year ? numbers[0] : numbers[1]);
    d = std::stoi(first_is_year ? numbers[1] : numbers[0]);
  } else if (month == 0 && numbers.size() == 3) {
    bool ymd = numbers[0].size() == 4;
    y = year_of(ymd ? numbers[0] : numbers[2]);
    month = std::stoi(numbers[1]);
    d = std::stoi(ymd ? numbers[2] : numbers[0]);
  } else {
    return "unparsed '" + s + "'";
  }
  return fmt::format("{:04}-{:02}-{:02}", y, month, d);
}

}  // namespace

TEST_CASE("toy copy, reverse, sort: right targets, lengths and alphabet, seeded", "[data]") {
  auto copy = toy_copy(200, 1);
  auto reverse = toy_reverse(200, 1);
  auto sorted = toy_sort(200, 1);
  std::set<size_t> lengths;
  for (size_t i = 0; i < 200; ++i) {
    const auto& s = copy[i].src;
    CHECK(copy[i].tgt == s);
    CHECK(copy[i].index == static_cast<int64_t>(i));
    CHECK(reverse[i].src == s);  // same seed, same sources
    CHECK(reverse[i].tgt == std::string(s.rbegin(), s.rend()));
    CHECK(std::is_sorted(sorted[i].tgt.begin(), sorted[i].tgt.end()));
    CHECK(std::is_permutation(sorted[i].tgt.begin(), sorted[i].tgt.end(), s.begin()));
    CHECK(s.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz") == std::string::npos);
    lengths.insert(s.size());
  }
  CHECK(*lengths.begin() == 4);
  CHECK(*lengths.rbegin() == 12);
  CHECK(toy_copy(50, 2)[7].src != toy_copy(50, 1)[7].src);
  auto custom = toy_reverse(20, 3, {.min_length = 2, .max_length = 2, .alphabet = "ab"});
  for (const auto& p : custom) CHECK(p.src.size() == 2);
}

TEST_CASE("toy dates: sources parse back to the ISO target", "[data]") {
  CHECK(format_date(2023, 4, 7, 0) == "7 April 2023");
  CHECK(format_date(2023, 4, 7, 1) == "April 7, 2023");
  CHECK(format_date(2023, 4, 7, 2) == "07/04/2023");
  CHECK(format_date(2023, 4, 7, 3) == "Friday, 7 Apr 2023");  // 2023-04-07 was a Friday
  CHECK(format_date(2023, 4, 7, 4) == "7.4.23");
  CHECK(format_date(2023, 4, 7, 5) == "2023 April 7th");
  CHECK(format_date(2000, 1, 1, 7) == "Saturday, January 1, 2000");
  CHECK(format_date(1950, 1, 1, 13) == "Sun 1 Jan '50");
  CHECK(format_date(2001, 3, 22, 6) == "22nd of March 2001");
  CHECK(format_date(2011, 11, 11, 5) == "2011 November 11th");
  CHECK_THROWS_WITH(format_date(2023, 2, 29, 0), Contains("is not a date"));
  CHECK_THROWS_WITH(format_date(2023, 2, 1, 99), Contains("no format 99"));

  // Every format, over many dates, reads back to the date it was given.
  gg::Generator gen(3);
  auto n_formats = static_cast<int>(toy_date_formats().size());
  CHECK(n_formats == 16);
  for (int i = 0; i < 2000; ++i) {
    int y = 1950 + static_cast<int>(gen.below(100)), m = 1 + static_cast<int>(gen.below(12));
    int d = 1 + static_cast<int>(gen.below(28));
    int f = i % n_formats;
    std::string iso = fmt::format("{:04}-{:02}-{:02}", y, m, d);
    INFO("format " << f << ": " << format_date(y, m, d, f));
    REQUIRE(parse_date(format_date(y, m, d, f)) == iso);
  }

  // The generator: valid ISO targets in range, sources that read back, all formats used.
  auto shape = [](const std::string& src) {  // digits and words masked
    return std::regex_replace(std::regex_replace(src, std::regex(R"(\d+)"), "9"), std::regex("[A-Za-z]+"), "a");
  };
  std::set<std::string> format_shapes, seen_shapes;
  for (int f = 0; f < n_formats; ++f) format_shapes.insert(shape(format_date(2023, 4, 7, f)));
  auto pairs = toy_dates(5000, 11);
  static const std::regex iso(R"(^\d{4}-\d{2}-\d{2}$)");
  std::set<int> years;
  for (const auto& p : pairs) {
    INFO(p.src << " -> " << p.tgt);
    REQUIRE(std::regex_match(p.tgt, iso));
    int year = std::stoi(p.tgt.substr(0, 4));
    REQUIRE((year >= 1950 && year <= 2049));
    years.insert(year);
    REQUIRE(parse_date(p.src) == p.tgt);
    seen_shapes.insert(shape(p.src));
  }
  CHECK(seen_shapes == format_shapes);
  CHECK(years.size() == 100);
  CHECK(toy_dates(100, 11)[42].src == pairs[42].src);
}

TEST_CASE("toy reorder: lexicon translation with adjectives after nouns and the verb last", "[data]") {
  CHECK(toy_reorder_translate("the big dog sees a small cat") == "la vok gran un mira pek vida");
  CHECK(toy_reorder_alignment("the big dog sees a small cat") == std::vector<int64_t>{0, 2, 1, 4, 6, 5, 3});
  CHECK(toy_reorder_translate("a cat hears the horse again") == "un mira la ruma ree oda");
  CHECK_THROWS_WITH(toy_reorder_translate("the unicorn sees a cat"), Contains("'unicorn' is not in the lexicon"));
  CHECK_THROWS_WITH(toy_reorder_translate("the dog a cat"), Contains("has no verb"));

  const auto& lexicon = toy_reorder_lexicon();
  CHECK(lexicon.size() == 30);
  std::map<std::string, std::string> dict(lexicon.begin(), lexicon.end());
  std::set<std::string> targets;
  for (const auto& [s, t] : lexicon) targets.insert(t);
  CHECK(dict.size() == 30);
  CHECK(targets.size() == 30);

  auto pairs = toy_reorder(1000, 5);
  int with_adjective_swap = 0;
  for (const auto& p : pairs) {
    INFO(p.src << " -> " << p.tgt);
    auto src = split_whitespace(p.src), tgt = split_whitespace(p.tgt);
    auto align = toy_reorder_alignment(p.src);
    REQUIRE(tgt.size() == src.size());
    REQUIRE(align.size() == src.size());
    std::vector<int64_t> sorted = align;
    std::sort(sorted.begin(), sorted.end());
    for (size_t j = 0; j < sorted.size(); ++j) REQUIRE(sorted[j] == static_cast<int64_t>(j));  // a permutation
    for (size_t j = 0; j < tgt.size(); ++j) REQUIRE(dict.at(src[align[j]]) == tgt[j]);
    // Non-monotonic: the verb (the last target word) is never the last source word.
    CHECK(!std::is_sorted(align.begin(), align.end()));
    CHECK(align.back() != static_cast<int64_t>(src.size()) - 1);
    for (size_t j = 1; j < align.size(); ++j) {
      if (align[j] == align[j - 1] - 1) {
        ++with_adjective_swap;
        break;
      }
    }
  }
  CHECK(with_adjective_swap > 600);  // P(at least one of two adjectives) = 0.75
}

TEST_CASE("toy tasks: registry with natural tokenizers", "[data]") {
  std::vector<std::string> names;
  for (const auto& t : toy_tasks()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"copy", "reverse", "sort", "dates", "reorder"});
  for (const auto& t : toy_tasks()) {
    auto pairs = t.generate(10, 3);
    CHECK(pairs.size() == 10);
    auto tok = t.make_tokenizer();
    CHECK(tok->name() == (t.name == "reorder" ? "word" : "char"));
    CHECK(tok->detokenize(tok->encode(pairs[0].src)) == pairs[0].src);
  }
  CHECK(toy_task("dates").generate(3, 1)[2].tgt == toy_dates(3, 1)[2].tgt);
  CHECK_THROWS_WITH(toy_task("nope"), Contains("no task 'nope' (known: copy, reverse, sort, dates, reorder)"));
}
