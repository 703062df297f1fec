// translate eval, translate translate and translate attention: using a trained model.
#include <fmt/core.h>

#include <unistd.h>

#include <iostream>
#include <optional>

#include "commands.h"
#include "core/file_io.h"
#include "core/profiler.h"
#include "common.h"
#include "pictures/attention_text.h"
#include "app/trainer.h"

namespace translate_cli {

namespace {

// --precision of eval and translate: fp32, or bf16 where the CPU multiplies bfloat16 (else said, and fp32).
gg::Precision decode_precision(const std::string& flag) {
  const gg::Precision p = gg::parse_precision(flag, "--precision");
  if (p != gg::Precision::BFloat16 || gg::bf16_is_fast()) return p;
  fmt::print(stderr, "--precision bf16: {}; decoding in float32\n", gg::bf16_not_fast_reason());
  return gg::Precision::Float32;
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "BLEU (with its sacreBLEU signature), exact match and perplexity on test data");
  static std::string model_dir;
  static DataOptions d;
  static int64_t beam = 1, samples = 5;
  static bool allow_changed_data = false;
  static int64_t batch_size = 32;
  static std::string output;
  static bool replace_unk = false, profile = false;
  static std::string precision = "fp32";
  cmd->add_option("--model", model_dir, "a model directory written by translate train")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--data", d.tsv, "a TSV file to test on (all its lines)")->check(CLI::ExistingFile);
  cmd->add_option("--src-col", d.src_col)->capture_default_str();
  cmd->add_option("--tgt-col", d.tgt_col)->capture_default_str();
  cmd->add_option("--test-src", d.test_src)->check(CLI::ExistingFile);
  cmd->add_option("--test-tgt", d.test_tgt)->check(CLI::ExistingFile);
  cmd->add_option("--beam", beam, "beam size (1: greedy)")->capture_default_str();
  cmd->add_option("--samples", samples, "translations to show")->capture_default_str();
  cmd->add_flag("--allow-changed-data", allow_changed_data, "evaluate on the saved split even if the data file changed");
  cmd->add_option("--batch-size", batch_size, "sentences decoded together, in batches of similar length")
      ->check(at_least(1))->capture_default_str();
  cmd->add_option("--output", output, "write the (detokenized) translations here, one per line in test order");
  cmd->add_flag("--replace-unk", replace_unk, "an <unk> in the output becomes the source token it attended to most");
  cmd->add_flag("--profile", profile, "print the op profiler's table of the decoding (time per op) at the end");
  cmd->add_option("--precision", precision, "decoding's matrix products in fp32, or bf16 (the scores stay float32)")
      ->capture_default_str();
  cmd->callback([] {
    auto t = gg::app::Translator::load(model_dir);
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
    const double loss = gg::app::evaluate_loss(*t.model, encode(t, test));
    std::optional<gg::Profiler> profiler;
    if (profile) profiler.emplace();
    Scores s = score(t, test, {.beam = beam, .batch_size = batch_size, .replace_unk = replace_unk,
                               .precision = decode_precision(precision)});
    if (profiler) {
      fmt::print("decoding {} sentences, {:.2f} s in ops:\n{}", test.size(), profiler->total_seconds(), profiler->table(25));
      profiler.reset();
    }
    if (!output.empty()) {
      std::string text;
      for (const auto& h : s.hypotheses) text += h + "\n";
      gg::write_file_atomic(output, text);
      fmt::print("translations written to {}\n", output);
    }
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
  static std::string model_dir, output;
  static int64_t beam = 1, batch_size = 32, n_best = 1, max_length = 1000;
  static bool show = false, skip_bad = false, replace_unk = false;
  static std::string precision = "fp32";
  cmd->add_option("--model", model_dir)->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--beam", beam, "beam size (1: greedy)")->check(at_least(1))->capture_default_str();
  cmd->add_option("--batch-size", batch_size, "sentences decoded together, in batches of similar length")
      ->check(at_least(1))->capture_default_str();
  cmd->add_option("--nbest", n_best, "the N best translations of each line (with --beam N or more), as "
                                      "'LINE ||| TRANSLATION ||| SCORE', LINE counted from 0")
      ->check(at_least(1));
  cmd->add_option("--output", output, "write the translations to this file (default: standard output)");
  cmd->add_option("--max-length", max_length, "a line of more source tokens is reported and not translated")
      ->check(at_least(1))->capture_default_str();
  cmd->add_flag("--show-attention", show, "print where the model looked, as a text heatmap");
  cmd->add_flag("--replace-unk", replace_unk, "an <unk> in the output becomes the source token it attended to most");
  cmd->add_flag("--skip-bad", skip_bad, "leave out lines that cannot be translated, instead of an empty line for each");
  cmd->add_option("--precision", precision, "decoding's matrix products in fp32, or bf16")->capture_default_str();
  cmd->callback([] {
    const gg::Precision decode = decode_precision(precision);
    GG_CHECK(n_best <= beam, "--nbest {} needs a beam at least as wide (--beam {})", n_best, beam);
    auto t = gg::app::Translator::load(model_dir);
    // One output line per input line, in input order: a blank line gives a blank line, and a
    // line that cannot be translated (invalid UTF-8, longer than --max-length) is reported on
    // stderr with its number and gives an empty line, so the output stays aligned with the
    // input; the exit status is then 1. Lines are read in chunks and decoded in batches of
    // similar length; from a terminal, one line at a time.
    const size_t chunk = ::isatty(STDIN_FILENO) ? 1 : static_cast<size_t>(batch_size) * 16;
    std::string written;  // for --output, put in place when all is translated
    auto emit = [&](const std::string& text) {
      if (output.empty()) {
        fmt::print("{}", text);
        std::fflush(stdout);
      } else {
        written += text;
      }
    };
    int64_t number = 0, bad = 0;
    std::vector<std::string> lines;
    auto translate_chunk = [&] {
      const int64_t first = number - static_cast<int64_t>(lines.size());  // 0-based number of lines[0]
      std::vector<std::string> good;
      std::vector<size_t> where;
      std::vector<int> state(lines.size(), 0);  // 0 blank, 1 translated, 2 bad
      for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
          const auto tokens = t.src_tokenizer->encode(lines[i]);
          GG_CHECK(static_cast<int64_t>(tokens.size()) <= max_length, "{} tokens, more than --max-length {}",
                   tokens.size(), max_length);
          state[i] = 1, good.push_back(lines[i]), where.push_back(i);
        } catch (const gg::Error& e) {
          state[i] = 2, ++bad;
          fmt::print(stderr, "translate: line {}: {} ({})\n", first + static_cast<int64_t>(i) + 1, e.what(),
                     skip_bad ? "skipped" : "an empty line is printed");
        }
      }
      const auto done =
          t.translate(good, {.beam = beam, .batch_size = batch_size, .n_best = n_best, .keep_attention = show,
                             .replace_unk = replace_unk, .precision = decode});
      for (size_t i = 0, k = 0; i < lines.size(); ++i) {
        if (state[i] == 2 && skip_bad) continue;
        const gg::app::Translation* tr = state[i] == 1 ? &done[k++] : nullptr;
        const int64_t line = first + static_cast<int64_t>(i);
        if (n_best > 1) {
          if (!tr) emit(fmt::format("{} |||  ||| 0\n", line));
          else
            for (const auto& [text, score] : tr->n_best) emit(fmt::format("{} ||| {} ||| {:.4f}\n", line, text, score));
          continue;
        }
        emit((tr ? tr->text : "") + "\n");
        if (show && tr)
          emit(gg::pictures::attention_text(attention_matrix(*tr), tr->source_tokens, with_eos(tr->target_tokens)) + "\n");
      }
      lines.clear();
    };
    for (std::string line; std::getline(std::cin, line);) {
      ++number;
      lines.push_back(std::move(line));
      if (lines.size() >= chunk) translate_chunk();
    }
    translate_chunk();
    if (!output.empty()) gg::write_file_atomic(output, written);
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
    auto t = gg::app::Translator::load(model_dir);
    auto tr = t.translate({sentence}, {.beam = beam, .keep_attention = true})[0];
    fmt::print("{}\n\n{}", tr.text, gg::pictures::attention_text(attention_matrix(tr), tr.source_tokens, with_eos(tr.target_tokens)));
    if (!png.empty()) {
      write_attention_png(png, tr);
      fmt::print("\nwrote {}\n", png);
    }
  });
}

void add_average(CLI::App& app) {
  auto* cmd = app.add_subcommand("average", "average the weights of a run's last checkpoints into a new model directory");
  static std::string model_dir, out;
  static int64_t last = 3;
  static bool overwrite = false;
  cmd->add_option("--model", model_dir, "a model directory written by translate train")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--last", last, "average this many of its newest checkpoints")->check(at_least(1))->capture_default_str();
  cmd->add_option("--out", out, "the new model directory")->required();
  cmd->add_flag("--overwrite", overwrite, "replace the model already in --out");
  cmd->callback([] { average_checkpoints(model_dir, last, out, overwrite); });
}

}  // namespace translate_cli
