#include "data/toy.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/random.h"

namespace gg::data {

namespace {

int64_t pick(Generator& gen, int64_t low, int64_t high) {  // uniform in [low, high]
  return low + static_cast<int64_t>(gen.below(static_cast<uint64_t>(high - low + 1)));
}

std::string random_sequence(Generator& gen, const ToySequenceOptions& o) {
  GG_CHECK(o.min_length >= 1 && o.min_length <= o.max_length, "toy task: need 1 <= min_length <= max_length, got "
           "{} and {}", o.min_length, o.max_length);
  GG_CHECK(!o.alphabet.empty(), "toy task: empty alphabet");
  int64_t n = pick(gen, o.min_length, o.max_length);
  std::string s;
  for (int64_t i = 0; i < n; ++i) s += o.alphabet[gen.below(o.alphabet.size())];
  return s;
}

template <class Transform>
std::vector<SentencePair> sequence_task(int64_t count, uint64_t seed, const ToySequenceOptions& options,
                                        Transform transform) {
  GG_CHECK(count >= 0, "toy task: count must be >= 0, got {}", count);
  Generator gen(seed);
  std::vector<SentencePair> pairs;
  pairs.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    std::string src = random_sequence(gen, options);
    pairs.push_back({src, transform(src), i});
  }
  return pairs;
}

}  // namespace

std::vector<SentencePair> toy_copy(int64_t count, uint64_t seed, const ToySequenceOptions& options) {
  return sequence_task(count, seed, options, [](const std::string& s) { return s; });
}

std::vector<SentencePair> toy_reverse(int64_t count, uint64_t seed, const ToySequenceOptions& options) {
  return sequence_task(count, seed, options, [](const std::string& s) { return std::string(s.rbegin(), s.rend()); });
}

std::vector<SentencePair> toy_sort(int64_t count, uint64_t seed, const ToySequenceOptions& options) {
  return sequence_task(count, seed, options, [](std::string s) {
    std::sort(s.begin(), s.end());
    return s;
  });
}

// ---- dates ----------------------------------------------------------------------------------

namespace {

const char* const kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                               "July",    "August",   "September", "October", "November", "December"};
const char* const kWeekdays[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// 0 = Monday. Days since 1970-01-01 (a Thursday) by Howard Hinnant's days_from_civil.
int weekday(int y, int m, int d) {
  y -= m <= 2;
  int era = (y >= 0 ? y : y - 399) / 400;
  int yoe = y - era * 400;
  int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long days = era * 146097L + doe - 719468L;
  return static_cast<int>(((days % 7) + 7 + 3) % 7);
}

std::string ordinal(int d) {
  const char* suffix = (d % 10 == 1 && d != 11) ? "st" : (d % 10 == 2 && d != 12) ? "nd" : (d % 10 == 3 && d != 13) ? "rd" : "th";
  return std::to_string(d) + suffix;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const std::vector<std::string>& toy_date_formats() {
  static const std::vector<std::string> formats = {
      "7 April 2023",       "April 7, 2023",     "07/04/2023 (day/month)", "Friday, 7 Apr 2023",
      "7.4.23",             "2023 April 7th",    "7th of April 2023",      "Friday, April 7, 2023",
      "07-Apr-2023",        "2023/04/07",        "20230407",               "APRIL 7, 2023",
      "7/4/2023 (day/month)", "Fri 7 Apr '23",   "7 apr 2023",             "Apr 7, 2023",
  };
  return formats;
}

std::string format_date(int y, int m, int d, int format) {
  GG_CHECK(y >= 1950 && y <= 2049 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m),
           "format_date: {}-{}-{} is not a date between 1950 and 2049", y, m, d);
  std::string month = kMonths[m - 1], mon = month.substr(0, 3), wd = kWeekdays[weekday(y, m, d)];
  switch (format) {
    case 0: return fmt::format("{} {} {}", d, month, y);
    case 1: return fmt::format("{} {}, {}", month, d, y);
    case 2: return fmt::format("{:02}/{:02}/{}", d, m, y);
    case 3: return fmt::format("{}, {} {} {}", wd, d, mon, y);
    case 4: return fmt::format("{}.{}.{:02}", d, m, y % 100);
    case 5: return fmt::format("{} {} {}", y, month, ordinal(d));
    case 6: return fmt::format("{} of {} {}", ordinal(d), month, y);
    case 7: return fmt::format("{}, {} {}, {}", wd, month, d, y);
    case 8: return fmt::format("{:02}-{}-{}", d, mon, y);
    case 9: return fmt::format("{}/{:02}/{:02}", y, m, d);
    case 10: return fmt::format("{}{:02}{:02}", y, m, d);
    case 11: return fmt::format("{} {}, {}", upper(month), d, y);
    case 12: return fmt::format("{}/{}/{}", d, m, y);
    case 13: return fmt::format("{} {} {} '{:02}", wd.substr(0, 3), d, mon, y % 100);
    case 14: return fmt::format("{} {} {}", d, lower(mon), y);
    case 15: return fmt::format("{} {}, {}", mon, d, y);
    default: fail("format_date: no format {} (there are {})", format, toy_date_formats().size());
  }
}

std::vector<SentencePair> toy_dates(int64_t count, uint64_t seed) {
  GG_CHECK(count >= 0, "toy_dates: count must be >= 0, got {}", count);
  Generator gen(seed);
  auto n_formats = static_cast<int64_t>(toy_date_formats().size());
  std::vector<SentencePair> pairs;
  pairs.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    int y = static_cast<int>(pick(gen, 1950, 2049)), m = static_cast<int>(pick(gen, 1, 12));
    int d = static_cast<int>(pick(gen, 1, days_in_month(y, m)));
    int f = static_cast<int>(pick(gen, 0, n_formats - 1));
    pairs.push_back({format_date(y, m, d, f), fmt::format("{:04}-{:02}-{:02}", y, m, d), i});
  }
  return pairs;
}

// ---- the reordering language ------------------------------------------------------------------

namespace {

enum class Pos { Det, Noun, Adj, Verb, Adv };

struct Entry {
  const char* src;
  const char* tgt;
  Pos pos;
};

const Entry kLexicon[] = {
    {"the", "la", Pos::Det},         {"a", "un", Pos::Det},
    {"dog", "vok", Pos::Noun},       {"cat", "mira", Pos::Noun},     {"bird", "pilu", Pos::Noun},
    {"man", "tano", Pos::Noun},      {"woman", "sela", Pos::Noun},   {"child", "nini", Pos::Noun},
    {"fish", "kalo", Pos::Noun},     {"horse", "ruma", Pos::Noun},   {"teacher", "doze", Pos::Noun},
    {"farmer", "agri", Pos::Noun},
    {"big", "gran", Pos::Adj},       {"small", "pek", Pos::Adj},     {"red", "roso", Pos::Adj},
    {"old", "vet", Pos::Adj},        {"young", "jun", Pos::Adj},     {"happy", "fel", Pos::Adj},
    {"black", "nor", Pos::Adj},      {"white", "bjan", Pos::Adj},
    {"sees", "vida", Pos::Verb},     {"likes", "ama", Pos::Verb},    {"follows", "sega", Pos::Verb},
    {"feeds", "mana", Pos::Verb},    {"finds", "trova", Pos::Verb},  {"hears", "oda", Pos::Verb},
    {"helps", "juta", Pos::Verb},    {"chases", "kasa", Pos::Verb},
    {"today", "oje", Pos::Adv},      {"again", "ree", Pos::Adv},
};

const Entry& lookup(std::string_view word) {
  for (const auto& e : kLexicon) {
    if (word == e.src) return e;
  }
  fail("toy_reorder: '{}' is not in the lexicon", word);
}

std::vector<std::string> words_of(std::string_view s) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(' ', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) words.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

// Appends a noun phrase [first, last) of `words` with its adjectives moved after the noun.
void reorder_phrase(const std::vector<std::string>& words, size_t first, size_t last, std::vector<int64_t>& out) {
  std::vector<int64_t> adjectives;
  for (size_t i = first; i < last; ++i) {
    if (lookup(words[i]).pos == Pos::Adj) {
      adjectives.push_back(static_cast<int64_t>(i));
    } else {
      out.push_back(static_cast<int64_t>(i));
    }
  }
  out.insert(out.end(), adjectives.begin(), adjectives.end());
}

std::vector<const Entry*> of_pos(Pos pos) {
  std::vector<const Entry*> out;
  for (const auto& e : kLexicon) {
    if (e.pos == pos) out.push_back(&e);
  }
  return out;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& toy_reorder_lexicon() {
  static const auto lexicon = [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : kLexicon) out.emplace_back(e.src, e.tgt);
    return out;
  }();
  return lexicon;
}

std::vector<int64_t> toy_reorder_alignment(std::string_view source) {
  auto words = words_of(source);
  size_t verb = words.size();
  for (size_t i = 0; i < words.size(); ++i) {
    if (lookup(words[i]).pos == Pos::Verb) {
      GG_CHECK(verb == words.size(), "toy_reorder: '{}' has two verbs", source);
      verb = i;
    }
  }
  GG_CHECK(verb < words.size(), "toy_reorder: '{}' has no verb", source);
  size_t end = words.size();
  std::vector<int64_t> adverbs;
  while (end > verb + 1 && lookup(words[end - 1]).pos == Pos::Adv) adverbs.insert(adverbs.begin(), --end);
  std::vector<int64_t> order;
  reorder_phrase(words, 0, verb, order);        // subject
  reorder_phrase(words, verb + 1, end, order);  // object
  order.insert(order.end(), adverbs.begin(), adverbs.end());
  order.push_back(static_cast<int64_t>(verb));
  return order;
}

std::string toy_reorder_translate(std::string_view source) {
  auto words = words_of(source);
  std::string out;
  for (int64_t i : toy_reorder_alignment(source)) {
    if (!out.empty()) out += ' ';
    out += lookup(words[i]).tgt;
  }
  return out;
}

std::vector<SentencePair> toy_reorder(int64_t count, uint64_t seed) {
  GG_CHECK(count >= 0, "toy_reorder: count must be >= 0, got {}", count);
  static const auto dets = of_pos(Pos::Det), nouns = of_pos(Pos::Noun), adjs = of_pos(Pos::Adj),
                    verbs = of_pos(Pos::Verb), advs = of_pos(Pos::Adv);
  Generator gen(seed);
  auto any = [&](const std::vector<const Entry*>& v) { return std::string(v[gen.below(v.size())]->src); };
  auto phrase = [&] {  // append, not operator+: GCC 12 warns falsely (-Wrestrict) on " " + string
    std::string s = any(dets);
    if (gen.uniform() < 0.5) s.append(" ").append(any(adjs));
    return s.append(" ").append(any(nouns));
  };
  std::vector<SentencePair> pairs;
  pairs.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    std::string src = phrase();
    src.append(" ").append(any(verbs)).append(" ").append(phrase());
    if (gen.uniform() < 0.3) src.append(" ").append(any(advs));
    pairs.push_back({src, toy_reorder_translate(src), i});
  }
  return pairs;
}

// ---- the registry ---------------------------------------------------------------------------------

const std::vector<ToyTask>& toy_tasks() {
  static const std::vector<ToyTask> tasks = [] {
    auto chars = [] { return std::unique_ptr<Tokenizer>(new CharTokenizer()); };
    auto words = [] { return std::unique_ptr<Tokenizer>(new WordTokenizer()); };
    return std::vector<ToyTask>{
        {"copy", "copy a string of digits and letters", [](int64_t n, uint64_t s) { return toy_copy(n, s); }, chars},
        {"reverse", "reverse a string of digits and letters",
         [](int64_t n, uint64_t s) { return toy_reverse(n, s); }, chars},
        {"sort", "sort the characters of a string", [](int64_t n, uint64_t s) { return toy_sort(n, s); }, chars},
        {"dates", "a date in one of 16 formats -> ISO 8601", toy_dates, chars},
        {"reorder", "a made-up language: adjectives after nouns, the verb last", toy_reorder, words},
    };
  }();
  return tasks;
}

const ToyTask& toy_task(std::string_view name) {
  std::string known;
  for (const auto& t : toy_tasks()) {
    if (t.name == name) return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  fail("toy_task: no task '{}' (known: {})", name, known);
}

}  // namespace gg::data
