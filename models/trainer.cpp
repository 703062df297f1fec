#include "models/trainer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "data/bleu.h"
#include "models/plot.h"
#include "nn/functional.h"
#include "optim/clip.h"
#include "optim/optimizers.h"
#include "optim/schedule.h"

namespace gg::models {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string clock_string(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

// Appends JSON lines to DIR/metrics.jsonl.
class MetricsLog {
 public:
  MetricsLog(const std::string& dir, bool append) : out_(dir + "/metrics.jsonl", append ? std::ios::app : std::ios::trunc) {
    GG_CHECK(out_.good(), "train: cannot write {}/metrics.jsonl", dir);
  }
  void write(const json& j) { out_ << j.dump() << '\n' << std::flush; }

 private:
  std::ofstream out_;
};

void save_training_state(const std::string& dir, optim::Optimizer& optimizer, optim::LRScheduler* schedule,
                         const json& state) {
  NamedTensors tensors = optimizer.state_dict();
  if (schedule)
    for (auto& [k, v] : schedule->state_dict()) tensors.emplace_back("schedule." + k, v);
  save_safetensors(dir + "/optimizer.safetensors", tensors);
  std::ostringstream rng;
  rng << global_generator().engine();
  json j = state;
  j["rng"] = rng.str();
  write_file_atomic(dir + "/trainer.json", j.dump(2) + "\n");
}

// DIR/loss.png: the logged training losses and the validation loss after each epoch.
void write_loss_curve(const std::string& path, const TrainResult& result) {
  Series train{.name = "train (logged steps)"}, valid{.name = "validation (per epoch)"};
  // Only points a log-scale axis can draw: no validation pairs make the validation loss NaN.
  auto add = [](Series& s, int64_t step, double loss) {
    if (std::isfinite(loss) && loss > 0) s.x.push_back(static_cast<double>(step)), s.y.push_back(loss);
  };
  for (const auto& [step, loss] : result.step_losses) add(train, step, loss);
  for (const auto& e : result.epochs) add(valid, e.step, e.valid_loss);
  std::vector<Series> series;
  if (!train.x.empty()) series.push_back(train);
  if (!valid.x.empty()) series.push_back(valid);
  if (series.empty()) return;
  write_line_plot_png(path, series, {.title = "loss", .x_label = "step", .y_label = "cross-entropy per token", .log_y = true});
}

}  // namespace

double evaluate_loss(Seq2Seq& model, const std::vector<data::EncodedPair>& pairs, int64_t batch_size) {
  if (pairs.empty()) return 0;
  NoGradGuard no_grad;
  model.eval();
  double total = 0;
  int64_t tokens = 0;
  for (const auto& batch : data::make_batches(pairs, {.batch_size = batch_size, .shuffle = false})) {
    Tensor loss = model.loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out,
                             {.ignore_index = 0, .reduction = Reduction::Sum});
    total += loss.item();
    tokens += batch.tgt_tokens;
  }
  return total / static_cast<double>(std::max<int64_t>(tokens, 1));
}

TrainResult train(Translator& translator, const std::vector<data::EncodedPair>& train_pairs,
                  const std::vector<data::EncodedPair>& valid, const std::vector<data::SentencePair>& valid_text,
                  const TrainOptions& o) {
  GG_CHECK(!o.out_dir.empty(), "train: an output directory is needed");
  GG_CHECK(!train_pairs.empty(), "train: no training pairs");
  Seq2Seq& model = *translator.model;
  GG_CHECK(o.teacher_forcing > 0 && o.teacher_forcing <= 1, "train: teacher forcing must be in (0, 1], got {}",
           o.teacher_forcing);
  model.teacher_forcing = o.teacher_forcing;
  optim::Adam optimizer(model.parameters(), {.lr = o.lr});
  std::unique_ptr<optim::LRScheduler> schedule;
  if (o.warmup_steps > 0) schedule = std::make_unique<optim::WarmupInverseSqrtLR>(optimizer, o.warmup_steps);

  TrainResult result;
  int64_t start_epoch = 0, skip_batches = 0, step = 0;
  double best = INFINITY;
  int64_t bad_epochs = 0;
  if (o.resume) {
    std::ifstream in(o.out_dir + "/trainer.json");
    GG_CHECK(in.good(), "train --resume: {} has no trainer.json; nothing to resume", o.out_dir);
    json state = json::parse(in);
    SafetensorsFile opt = load_safetensors(o.out_dir + "/optimizer.safetensors");
    NamedTensors opt_state, sched_state;  // the schedule's entries are saved as "schedule.<key>"
    const std::string prefix = "schedule.";
    for (auto& [k, v] : opt.tensors) {
      if (k.rfind(prefix, 0) == 0) sched_state.emplace_back(k.substr(prefix.size()), v);
      else opt_state.emplace_back(k, v);
    }
    optimizer.load_state_dict(opt_state);
    if (schedule) schedule->load_state_dict(sched_state);
    model.load_state_dict(load_safetensors(o.out_dir + "/last.safetensors").tensors);
    std::istringstream rng(state.at("rng").get<std::string>());
    rng >> global_generator().engine();
    start_epoch = state.at("epoch");
    skip_batches = state.at("batch_in_epoch");
    step = state.at("step");
    best = state.at("best_valid_loss");
    bad_epochs = state.at("bad_epochs");
  } else {
    translator.save(o.out_dir);
  }
  MetricsLog log(o.out_dir, o.resume);
  const bool tty = !o.quiet && ::isatty(STDOUT_FILENO);
  const auto start = Clock::now();
  auto last_print = start;
  bool out_of_time = false;

  auto checkpoint_last = [&](int64_t epoch, int64_t batch_in_epoch) {
    save_safetensors(o.out_dir + "/last.safetensors", model.state_dict());
    save_training_state(o.out_dir, optimizer, schedule.get(),
                        {{"epoch", epoch}, {"batch_in_epoch", batch_in_epoch}, {"step", step},
                         {"best_valid_loss", std::isfinite(best) ? best : 1e300}, {"bad_epochs", bad_epochs}});
  };

  for (int64_t epoch = start_epoch; epoch < o.epochs && !out_of_time; ++epoch) {
    model.train();
    const auto batches = data::make_batches(train_pairs, {.batch_size = o.batch_size, .seed = o.seed}, epoch);
    double epoch_loss = 0;
    int64_t epoch_tokens = 0, window_tokens = 0;
    const auto epoch_start = Clock::now();
    auto window_start = epoch_start;
    for (size_t b = static_cast<size_t>(skip_batches); b < batches.size(); ++b) {
      const auto& batch = batches[b];
      Tensor loss;
      {
        autocast precision(o.precision);  // backward's products run in the precision forward's did
        loss = model.loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out,
                          {.ignore_index = 0, .label_smoothing = o.label_smoothing});
      }
      optimizer.zero_grad();
      loss.backward();
      const double norm = o.clip > 0 ? optim::clip_grad_norm_(model.parameters(), o.clip) : 0.0;
      optimizer.step();
      if (schedule) schedule->step();
      ++step;
      const double l = loss.item();
      epoch_loss += l * static_cast<double>(batch.tgt_tokens);
      epoch_tokens += batch.tgt_tokens;
      window_tokens += batch.tgt_tokens;
      const double elapsed = seconds_since(start);
      if (step % o.log_every == 0) {
        const double tok_s = static_cast<double>(window_tokens) / std::max(1e-9, seconds_since(window_start));
        log.write({{"step", step}, {"epoch", epoch + 1}, {"loss", l}, {"lr", optimizer.lr()}, {"grad_norm", norm},
                   {"tok_per_s", tok_s}, {"seconds", elapsed}});
        result.step_losses.emplace_back(step, l);
        window_tokens = 0;
        window_start = Clock::now();
      }
      const double done = static_cast<double>(b + 1) / static_cast<double>(batches.size());
      if (tty && seconds_since(last_print) > 0.25) {
        const double epoch_seconds = seconds_since(epoch_start);
        const double rate = static_cast<double>(epoch_tokens) / std::max(1e-9, epoch_seconds);
        const int width = 30, filled = static_cast<int>(done * width);
        double eta = (1 - done) * epoch_seconds / std::max(1e-9, done);  // of this epoch
        if (o.time_budget_minutes > 0) eta = std::min(eta, o.time_budget_minutes * 60 - elapsed);
        std::fprintf(stdout, "\repoch %lld/%lld [%s%s] %3.0f%%  loss %.3f  %.0f tok/s  ETA %s   ", (long long)epoch + 1,
                     (long long)o.epochs, std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                     100 * done, l, rate, clock_string(eta).c_str());
        std::fflush(stdout);
        last_print = Clock::now();
      } else if (!tty && !o.quiet && seconds_since(last_print) > 10) {
        fmt::print("epoch {} step {} ({:.0f}%)  loss {:.3f}  {:.0f} tok/s  {} elapsed\n", epoch + 1, step, 100 * done, l,
                   static_cast<double>(epoch_tokens) / std::max(1e-9, seconds_since(epoch_start)), clock_string(elapsed));
        std::fflush(stdout);
        last_print = Clock::now();
      }
      if (o.time_budget_minutes > 0 && elapsed > o.time_budget_minutes * 60) {
        out_of_time = true;
        checkpoint_last(epoch, static_cast<int64_t>(b) + 1);
        break;
      }
    }
    skip_batches = 0;
    if (tty) std::fprintf(stdout, "\n");
    // Validation.
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.step = step;
    rec.train_loss = epoch_loss / static_cast<double>(std::max<int64_t>(epoch_tokens, 1));
    rec.valid_loss = evaluate_loss(model, valid);
    rec.valid_ppl = std::exp(rec.valid_loss);
    if (o.valid_bleu_sentences > 0 && !valid_text.empty()) {
      std::vector<std::string> sources, references;
      for (size_t i = 0; i < valid_text.size() && static_cast<int64_t>(i) < o.valid_bleu_sentences; ++i) {
        sources.push_back(valid_text[i].src);
        references.push_back(valid_text[i].tgt);
      }
      std::vector<std::string> hypotheses;
      for (auto& t : translator.translate(sources)) hypotheses.push_back(t.text);
      rec.valid_bleu = data::corpus_bleu(hypotheses, references).score;
    }
    rec.seconds = seconds_since(start);
    result.epochs.push_back(rec);
    json j = {{"epoch", rec.epoch}, {"step", step}, {"train_loss", rec.train_loss}, {"valid_loss", rec.valid_loss},
              {"valid_ppl", rec.valid_ppl}, {"seconds", rec.seconds}};
    if (rec.valid_bleu >= 0) j["valid_bleu"] = rec.valid_bleu;
    log.write(j);
    const bool improved = rec.valid_loss < best || valid.empty();
    if (improved) {
      best = rec.valid_loss;
      bad_epochs = 0;
      translator.save(o.out_dir);  // the best model so far
    } else {
      ++bad_epochs;
    }
    if (!o.quiet)
      fmt::print("epoch {:>3}  train loss {:.4f}  valid loss {:.4f}  ppl {:.2f}{}  {}{}\n", rec.epoch, rec.train_loss,
                 rec.valid_loss, rec.valid_ppl, rec.valid_bleu >= 0 ? fmt::format("  BLEU {:.2f}", rec.valid_bleu) : "",
                 clock_string(rec.seconds), improved ? "  (best, saved)" : "");
    if (!out_of_time) checkpoint_last(epoch + 1, 0);
    write_loss_curve(o.out_dir + "/loss.png", result);
    if (o.patience > 0 && bad_epochs >= o.patience) {
      result.stop_reason = "early stopping";
      break;
    }
  }
  if (result.stop_reason.empty()) result.stop_reason = out_of_time ? "time budget" : "epochs";
  result.steps = step;
  result.seconds = seconds_since(start);
  result.best_valid_loss = best;
  return result;
}

}  // namespace gg::models
