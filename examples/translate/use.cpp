// translate eval, translate translate and translate attention: using a trained model.
#include <fmt/core.h>

#include <iostream>

#include "commands.h"
#include "common.h"
#include "models/heatmap.h"
#include "models/trainer.h"

namespace translate_cli {

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "BLEU (with its sacreBLEU signature), exact match and perplexity on test data");
  static std::string model_dir;
  static DataOptions d;
  static int64_t beam = 1, samples = 5;
  static bool allow_changed_data = false;
  cmd->add_option("--model", model_dir, "a model directory written by translate train")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--data", d.tsv, "a TSV file to test on (all its lines)")->check(CLI::ExistingFile);
  cmd->add_option("--src-col", d.src_col)->capture_default_str();
  cmd->add_option("--tgt-col", d.tgt_col)->capture_default_str();
  cmd->add_option("--test-src", d.test_src)->check(CLI::ExistingFile);
  cmd->add_option("--test-tgt", d.test_tgt)->check(CLI::ExistingFile);
  cmd->add_option("--beam", beam, "beam size (1: greedy)")->capture_default_str();
  cmd->add_option("--samples", samples, "translations to show")->capture_default_str();
  cmd->add_flag("--allow-changed-data", allow_changed_data, "evaluate on the saved split even if the data file changed");
  cmd->callback([] {
    auto t = gg::models::Translator::load(model_dir);
    std::vector<gg::data::SentencePair> test;
    if (!d.tsv.empty()) {
      print_attribution_if_tatoeba(d.tsv);
      test = gg::data::read_tsv(d.tsv, d.src_col, d.tgt_col, {.skip_bad = true}).pairs;
    } else if (!d.test_src.empty()) {
      test = gg::data::read_parallel(d.test_src, d.test_tgt, {.skip_bad = true}).pairs;
    } else {
      test = saved_pairs(t, model_dir, allow_changed_data).test;
      fmt::print("the held-out test split saved with the model: {} pairs\n", test.size());
    }
    GG_CHECK(!test.empty(), "eval: no test pairs");
    const double loss = gg::models::evaluate_loss(*t.model, encode(t, test));
    Scores s = score(t, test, beam);
    fmt::print("{} sentences, {}\n", test.size(), beam > 1 ? fmt::format("beam {}", beam) : "greedy");
    fmt::print("{}\n  signature {}\n", s.bleu.str(), s.bleu.signature);
    fmt::print("lowercased: {}\n  signature {}\n", s.bleu_lowercase.str(), s.bleu_lowercase.signature);
    fmt::print("perplexity {:.2f} (loss {:.4f} per target token), exact match {:.1f}%\n", std::exp(loss), loss, 100 * s.exact_match);
    for (int64_t i = 0; i < std::min<int64_t>(samples, static_cast<int64_t>(test.size())); ++i)
      fmt::print("  {}\n    -> {}\n    (reference: {})\n", test[i].src, s.hypotheses[i], test[i].tgt);
  });
}

void add_translate(CLI::App& app) {
  auto* cmd = app.add_subcommand("translate", "translate sentences from standard input, one per line");
  static std::string model_dir;
  static int64_t beam = 1;
  static bool show = false, skip_bad = false;
  cmd->add_option("--model", model_dir)->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--beam", beam, "beam size (1: greedy)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--show-attention", show, "print where the model looked, as a text heatmap");
  cmd->add_flag("--skip-bad", skip_bad, "leave out lines that cannot be translated, instead of an empty line for each");
  cmd->callback([] {
    auto t = gg::models::Translator::load(model_dir);
    // One output line per input line: a blank line gives a blank line, and a line that cannot
    // be translated (invalid UTF-8) is reported on stderr with its number and gives an empty
    // line, so the output stays aligned with the input; the exit status is then 1.
    std::string line;
    int64_t number = 0, bad = 0;
    while (std::getline(std::cin, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) {
        fmt::print("\n");
        continue;
      }
      gg::models::Translation tr;
      try {
        tr = t.translate({line}, beam, show)[0];
      } catch (const gg::Error& e) {
        ++bad;
        fmt::print(stderr, "translate: line {}: {} ({})\n", number, e.what(), skip_bad ? "skipped" : "an empty line is printed");
        if (!skip_bad) fmt::print("\n");
        continue;
      }
      fmt::print("{}\n", tr.text);
      if (show) fmt::print("{}\n", gg::models::attention_text(attention_matrix(tr), tr.source_tokens, with_eos(tr.target_tokens)));
      std::fflush(stdout);
    }
    if (bad > 0) {
      fmt::print(stderr, "translate: {} of {} lines could not be translated\n", bad, number);
      if (!skip_bad) throw ExitStatus{1};
    }
  });
}

void add_attention(CLI::App& app) {
  auto* cmd = app.add_subcommand("attention", "the attention heatmap of one sentence");
  static std::string model_dir, sentence, png;
  static int64_t beam = 1;
  cmd->add_option("--model", model_dir)->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--sentence", sentence, "the source sentence")->required();
  cmd->add_option("--png", png, "where to write the picture (PNG)");
  cmd->add_option("--beam", beam)->capture_default_str();
  cmd->callback([] {
    auto t = gg::models::Translator::load(model_dir);
    auto tr = t.translate({sentence}, beam, true)[0];
    fmt::print("{}\n\n{}", tr.text, gg::models::attention_text(attention_matrix(tr), tr.source_tokens, with_eos(tr.target_tokens)));
    if (!png.empty()) {
      write_attention_png(png, tr);
      fmt::print("\nwrote {}\n", png);
    }
  });
}

}  // namespace translate_cli
