#include "app/trainer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "data/bleu.h"
#include "app/checkpoint.h"
#include "pictures/plot.h"
#include "nn/functional.h"
#include "optim/clip.h"
#include "optim/optimizers.h"
#include "optim/schedule.h"

namespace gg::app {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string clock_string(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

// DIR/metrics.jsonl, one JSON object per line. A resumed run first cuts the file back to the
// length its checkpoint recorded, so the lines written after that checkpoint are written once.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, int64_t keep_bytes) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    GG_CHECK(fd_ >= 0, "train: cannot write {}: {}", path, std::strerror(errno));
    const off_t size = ::lseek(fd_, 0, SEEK_END);
    if (keep_bytes > size)
      fmt::print(stderr, "warning: {} has {} bytes, the checkpoint recorded {}: some metrics lines are lost\n", path,
                 size, keep_bytes);
    bytes_ = std::min<int64_t>(keep_bytes, size);
    GG_CHECK(::ftruncate(fd_, bytes_) == 0 && ::lseek(fd_, bytes_, SEEK_SET) == bytes_, "train: cannot cut back {}: {}",
             path, std::strerror(errno));
  }
  ~MetricsLog() { ::close(fd_); }
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void write(const json& j) {
    const std::string line = j.dump() + "\n";
    for (size_t done = 0; done < line.size();) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      GG_CHECK(n > 0, "train: writing {} failed: {}", path_, std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    bytes_ += static_cast<int64_t>(line.size());
  }
  // Flushes the lines to disk and returns the file's length, for the checkpoint to record.
  int64_t sync() {
    GG_CHECK(::fsync(fd_) == 0, "train: cannot flush {}: {}", path_, std::strerror(errno));
    return bytes_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  int64_t bytes_ = 0;
};

// The logged losses and epoch records of metrics.jsonl: a resumed run's loss curve and result
// then cover the whole run.
void read_metrics(const std::string& path, TrainResult& result) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    if (j.contains("valid_loss")) {
      result.epochs.push_back({.epoch = j.value("epoch", int64_t{0}), .step = j.value("step", int64_t{0}),
                               .train_loss = j.value("train_loss", 0.0), .valid_loss = j.value("valid_loss", 0.0),
                               .valid_ppl = j.value("valid_ppl", 0.0), .valid_bleu = j.value("valid_bleu", -1.0),
                               .seconds = j.value("seconds", 0.0)});
    } else if (j.contains("loss")) {
      result.step_losses.emplace_back(j.value("step", int64_t{0}), j.value("loss", 0.0));
    }
  }
}

// SIGINT and SIGTERM while training: the first asks the loop to stop after the current step (it
// saves a checkpoint and returns); a second ends the process at once, as it would without us.
volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);  // delivered when this handler returns
    return;
  }
  g_stop_signal = sig;
  const char message[] = "\ninterrupted: finishing this step and saving a checkpoint (again to stop at once)\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, message, sizeof message - 1);
}

class StopOnSignal {
 public:
  explicit StopOnSignal(bool active) : active_(active) {
    g_stop_signal = 0;
    if (!active_) return;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignal() {
    if (!active_) return;
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  int signal() const { return g_stop_signal; }

 private:
  bool active_;
  struct sigaction old_int_ {}, old_term_ {};
};

// DIR/loss.png: the logged training losses and the validation loss after each epoch.
void write_loss_curve(const std::string& path, const TrainResult& result) {
  pictures::Series train{.name = "train (logged steps)"}, valid{.name = "validation (per epoch)"};
  // Only points a log-scale axis can draw: no validation pairs make the validation loss NaN.
  auto add = [](pictures::Series& s, int64_t step, double loss) {
    if (std::isfinite(loss) && loss > 0) s.x.push_back(static_cast<double>(step)), s.y.push_back(loss);
  };
  for (const auto& [step, loss] : result.step_losses) add(train, step, loss);
  for (const auto& e : result.epochs) add(valid, e.step, e.valid_loss);
  std::vector<pictures::Series> series;
  if (!train.x.empty()) series.push_back(train);
  if (!valid.x.empty()) series.push_back(valid);
  if (series.empty()) return;
  pictures::write_line_plot_png(path, series, {.title = "loss", .x_label = "step", .y_label = "cross-entropy per token", .log_y = true});
}

}  // namespace

namespace {
// The summed loss and the target tokens of every world-th batch of `pairs`, from the rank-th.
std::pair<double, int64_t> loss_sum(models::Seq2Seq& model, const std::vector<data::EncodedPair>& pairs, int64_t batch_size,
                                    int64_t rank = 0, int64_t world = 1) {
  if (pairs.empty()) return {0.0, 0};
  NoGradGuard no_grad;
  model.eval();
  double total = 0;
  int64_t tokens = 0;
  const auto batches = data::make_batches(pairs, {.batch_size = batch_size, .shuffle = false});
  for (size_t i = static_cast<size_t>(rank); i < batches.size(); i += static_cast<size_t>(world)) {
    const data::Batch& batch = batches[i];
    Tensor loss = model.loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out,
                             {.ignore_index = 0, .reduction = Reduction::Sum});
    total += loss.item();
    tokens += batch.tgt_tokens;
  }
  return {total, tokens};
}
}  // namespace

double evaluate_loss(models::Seq2Seq& model, const std::vector<data::EncodedPair>& pairs, int64_t batch_size) {
  const auto [total, tokens] = loss_sum(model, pairs, batch_size);
  return total / static_cast<double>(std::max<int64_t>(tokens, 1));
}

json resume_options(const TrainOptions& o) {
  return {{"batch_size", o.batch_size},           {"lr", o.lr},
          {"clip", o.clip},                       {"label_smoothing", o.label_smoothing},
          {"teacher_forcing", o.teacher_forcing}, {"warmup_steps", o.warmup_steps},
          {"seed", o.seed},                       {"precision", precision_name(o.precision)}};
}

TrainResult train(Translator& translator, const std::vector<data::EncodedPair>& train_pairs,
                  const std::vector<data::EncodedPair>& valid, const std::vector<data::SentencePair>& valid_text,
                  const TrainOptions& o) {
  GG_CHECK(!o.out_dir.empty(), "train: an output directory is needed");
  GG_CHECK(!train_pairs.empty(), "train: no training pairs");
  GG_CHECK(o.epochs >= 1, "train: --epochs must be at least 1, got {}", o.epochs);
  GG_CHECK(o.batch_size >= 1, "train: --batch-size must be at least 1, got {}", o.batch_size);
  GG_CHECK(o.log_every >= 1, "train: log_every must be at least 1, got {}", o.log_every);
  models::Seq2Seq& model = *translator.model;
  // Under mpirun only rank 0 writes, and every decision to stop is taken by all ranks together.
  const bool writer = dist::rank() == 0, quiet = o.quiet || !writer;
  GG_CHECK(o.teacher_forcing > 0 && o.teacher_forcing <= 1, "train: teacher forcing must be in (0, 1], got {}",
           o.teacher_forcing);
  model.teacher_forcing = o.teacher_forcing;
  optim::Adam optimizer(model.parameters(), {.lr = o.lr});
  std::unique_ptr<optim::LRScheduler> schedule;
  if (o.warmup_steps > 0) schedule = std::make_unique<optim::WarmupInverseSqrtLR>(optimizer, o.warmup_steps);

  // Data-parallel under mpirun (even with one rank, so that -np 1 computes what -np N does).
  std::unique_ptr<dist::DataParallel> ddp;
  if (dist::initialized()) {
    ddp = std::make_unique<dist::DataParallel>(model.parameters(), dist::DataParallelOptions{.mode = o.reduce});
    std::vector<Tensor> buffers;
    for (const auto& [name, b] : model.named_buffers()) buffers.push_back(b);
    dist::broadcast_from_rank0(buffers);
  }

  // Where training stands; a checkpoint saves exactly this (and the model, optimizer and RNG).
  TrainResult result;
  int64_t epoch = 0, batch_in_epoch = 0, step = 0, bad_epochs = 0, epoch_tokens = 0, metrics_bytes = 0;
  double best = INFINITY, epoch_loss = 0, seconds_before = 0;  // seconds_before: of the runs this one resumes
  if (o.resume) {
    const auto saved = list_checkpoints(o.out_dir);
    GG_CHECK(!saved.empty(),
             "train --resume: {} has no checkpoint (the run stopped before its first save); start again with --overwrite",
             o.out_dir);
    Checkpoint c;
    try {
      c = load_checkpoint(saved.back());
    } catch (const Error& e) {
      fail("train --resume: {}\n  {}", e.what(),
           saved.size() > 1 ? fmt::format("to resume from the checkpoint before it, remove {}", saved.back())
                            : "it is the only checkpoint: start the run again with --overwrite");
    }
    const json& state = c.trainer;
    std::string differences;
    const json options = resume_options(o);
    for (const auto& [key, value] : options.items())
      if (state.at("options").value(key, json()) != value)
        differences += fmt::format("\n  {}: {} now, {} in the run being resumed", key, value.dump(),
                                   state.at("options").value(key, json()).dump());
    GG_CHECK(differences.empty(), "train --resume: these options differ from the run in {}:{}", o.out_dir, differences);
    model.load_state_dict(c.model);
    NamedTensors opt_state, sched_state;  // the schedule's entries are saved as "schedule.<key>"
    const std::string prefix = "schedule.";
    for (auto& [k, v] : c.optimizer) {
      if (k.starts_with(prefix)) sched_state.emplace_back(k.substr(prefix.size()), v);
      else opt_state.emplace_back(k, v);
    }
    optimizer.load_state_dict(opt_state);
    if (schedule) schedule->load_state_dict(sched_state);
    std::istringstream rng(state.at("rng").get<std::string>());
    rng >> global_generator().engine();
    epoch = c.epoch, batch_in_epoch = c.batch_in_epoch, step = c.step;
    best = state.at("best_valid_loss"), bad_epochs = state.at("bad_epochs");
    epoch_loss = state.at("epoch_loss_sum"), epoch_tokens = state.at("epoch_tokens");
    seconds_before = state.at("seconds"), metrics_bytes = state.at("metrics_bytes");
    if (!quiet) fmt::print("resuming from {} (epoch {}, step {})\n", saved.back(), epoch + 1, step);
  } else if (writer) {
    GG_CHECK(list_checkpoints(o.out_dir).empty(),
             "train: {} holds the checkpoints of another run; resume it, or remove {}/checkpoints", o.out_dir, o.out_dir);
    translator.save(o.out_dir);
  }
  std::unique_ptr<MetricsLog> log;
  if (writer) log = std::make_unique<MetricsLog>(o.out_dir + "/metrics.jsonl", metrics_bytes);
  if (o.resume && writer) read_metrics(o.out_dir + "/metrics.jsonl", result);  // as rank 0 has just cut it back
  const std::string ranks = ddp ? fmt::format(" on {} ranks", dist::world_size()) : "";
  if (ddp && !quiet)
    fmt::print("data-parallel: {} ranks, {} reduction {}, {} buckets of gradients ({:.1f} MiB)\n", dist::world_size(),
               dist::mode_name(o.reduce), ddp->shared_memory() ? "in shared memory" : "by MPI messages",
               ddp->bucket_count(), static_cast<double>(ddp->gradient_bytes()) / (1 << 20));
  StopOnSignal stop(o.handle_signals);
  const bool tty = !quiet && ::isatty(STDOUT_FILENO);
  const auto start = Clock::now();
  auto last_print = start, last_save = start;
  auto elapsed = [&] { return seconds_before + seconds_since(start); };

  auto save = [&] {
    if (!writer) return;
    NamedTensors opt = optimizer.state_dict();
    if (schedule)
      for (auto& [k, v] : schedule->state_dict()) opt.emplace_back("schedule." + k, v);
    std::ostringstream rng;
    rng << global_generator().engine();
    json state = {{"best_valid_loss", std::isfinite(best) ? best : 1e300}, {"bad_epochs", bad_epochs},
                  {"epoch_loss_sum", epoch_loss}, {"epoch_tokens", epoch_tokens}, {"seconds", elapsed()},
                  {"metrics_bytes", log->sync()}, {"rng", rng.str()}, {"options", resume_options(o)}};
    result.checkpoint = save_checkpoint(
        o.out_dir, {.step = step, .epoch = epoch, .batch_in_epoch = batch_in_epoch, .model = model.state_dict(),
                    .optimizer = opt, .trainer = state}, o.keep_checkpoints);
    last_save = Clock::now();
  };
  if (!o.resume) save();  // from here on, --resume always has a checkpoint to start from

  bool out_of_time = false;
  int stop_signal = 0;  // the signal that stops training, on any rank
  while (epoch < o.epochs && !stop_signal) {
    model.train();
    const auto batches = data::make_batches(train_pairs, {.batch_size = o.batch_size, .seed = o.seed}, epoch);
    int64_t window_tokens = 0, run_tokens = 0;
    const auto epoch_start = Clock::now();
    auto window_start = epoch_start;
    const double done_before = static_cast<double>(batch_in_epoch) / static_cast<double>(batches.size());
    while (batch_in_epoch < static_cast<int64_t>(batches.size())) {
      const auto& batch = batches[static_cast<size_t>(batch_in_epoch)];
      double l = 0;  // the mean loss per target token of the whole batch
      if (!ddp) {
        Tensor loss;
        {
          autocast precision(o.precision);  // backward's products run in the precision forward's did
          loss = model.loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out,
                            {.ignore_index = 0, .label_smoothing = o.label_smoothing});
        }
        optimizer.zero_grad();
        loss.backward();
        l = loss.item();
      } else {  // this rank's share, its loss summed; DataParallel sums over ranks and divides
        const data::Batch mine = data::shard(batch, dist::rank(), dist::world_size());
        global_generator().seed(dist::step_seed(o.seed, step, dist::rank()));
        optimizer.zero_grad();
        ddp->begin_step();
        double loss_sum = 0;
        if (mine.size() > 0) {
          Tensor loss;
          {
            autocast precision(o.precision);
            loss = model.loss(mine.src, mine.src_lengths, mine.tgt_in, mine.tgt_out,
                              {.ignore_index = 0, .label_smoothing = o.label_smoothing, .reduction = Reduction::Sum});
          }
          loss.backward();
          loss_sum = loss.item();
        }
        const int64_t tokens = ddp->finish(mine.tgt_tokens);
        GG_CHECK(tokens == batch.tgt_tokens,
                 "data-parallel training: the ranks' shares hold {} target tokens, the batch {}: the ranks read "
                 "different data", tokens, batch.tgt_tokens);
        l = dist::sum(loss_sum) / static_cast<double>(tokens);
      }
      const double norm = o.clip > 0 ? optim::clip_grad_norm_(model.parameters(), o.clip) : 0.0;
      optimizer.step();
      if (schedule) schedule->step();
      ++step, ++batch_in_epoch;
      epoch_loss += l * static_cast<double>(batch.tgt_tokens);
      epoch_tokens += batch.tgt_tokens;
      window_tokens += batch.tgt_tokens;
      run_tokens += batch.tgt_tokens;
      if (step % o.log_every == 0) {
        const double tok_s = static_cast<double>(window_tokens) / std::max(1e-9, seconds_since(window_start));
        if (log) log->write({{"step", step}, {"epoch", epoch + 1}, {"loss", l}, {"lr", optimizer.lr()}, {"grad_norm", norm},
                   {"tok_per_s", tok_s}, {"seconds", elapsed()}});
        result.step_losses.emplace_back(step, l);
        window_tokens = 0;
        window_start = Clock::now();
      }
      const double done = static_cast<double>(batch_in_epoch) / static_cast<double>(batches.size());
      const double rate = static_cast<double>(run_tokens) / std::max(1e-9, seconds_since(epoch_start));
      if (tty && seconds_since(last_print) > 0.25) {
        const int width = 30, filled = static_cast<int>(done * width);
        // Of this epoch, from this run's pace.
        double eta = (1 - done) * seconds_since(epoch_start) / std::max(1e-9, done - done_before);
        if (o.time_budget_minutes > 0) eta = std::min(eta, o.time_budget_minutes * 60 - seconds_since(start));
        std::fprintf(stdout, "\repoch %lld/%lld [%s%s] %3.0f%%  loss %.3f  %.0f tok/s%s  ETA %s   ", (long long)epoch + 1,
                     (long long)o.epochs, std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                     100 * done, l, rate, ranks.c_str(), clock_string(eta).c_str());
        std::fflush(stdout);
        last_print = Clock::now();
      } else if (!tty && !quiet && seconds_since(last_print) > 10) {
        fmt::print("epoch {} step {} ({:.0f}%)  loss {:.3f}  {:.0f} tok/s{}  {} elapsed\n", epoch + 1, step, 100 * done, l,
                   rate, ranks, clock_string(elapsed()));
        std::fflush(stdout);
        last_print = Clock::now();
      }
      out_of_time = o.time_budget_minutes > 0 && seconds_since(start) > o.time_budget_minutes * 60;
      stop_signal = stop.signal();
      if (ddp)  // one rank's clock or signal stops them all, at the same step: one collective for both
        for (int64_t f : dist::all_gather(int64_t{stop_signal} * 2 + out_of_time)) {
          stop_signal = std::max(stop_signal, static_cast<int>(f / 2));
          out_of_time = out_of_time || f % 2 != 0;
        }
      if (out_of_time || stop_signal) {
        save();
        break;
      }
      const bool end_of_epoch = batch_in_epoch == static_cast<int64_t>(batches.size());  // saved after validation
      const bool due = (o.save_every_steps > 0 && step % o.save_every_steps == 0) ||
                       (o.save_every_minutes > 0 && seconds_since(last_save) >= o.save_every_minutes * 60);
      if (due && !end_of_epoch) save();
    }
    if (tty) std::fprintf(stdout, "\n");
    if (stop_signal) break;  // saved above; validation would keep the user waiting
    // Validation.
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.step = step;
    rec.train_loss = epoch_loss / static_cast<double>(std::max<int64_t>(epoch_tokens, 1));
    {  // under mpirun each rank takes its share of the batches; the sums are added in rank order (same bits everywhere)
      const auto [total, tokens] = loss_sum(model, valid, 64, dist::rank(), dist::world_size());
      rec.valid_loss = dist::sum(total) / static_cast<double>(std::max<int64_t>(dist::sum(tokens), 1));
    }
    rec.valid_ppl = std::exp(rec.valid_loss);
    if (writer && o.valid_bleu_sentences > 0 && !valid_text.empty()) {  // only rank 0 reports it
      std::vector<std::string> sources, references;
      for (size_t i = 0; i < valid_text.size() && static_cast<int64_t>(i) < o.valid_bleu_sentences; ++i) {
        sources.push_back(valid_text[i].src);
        references.push_back(valid_text[i].tgt);
      }
      std::vector<std::string> hypotheses;
      for (auto& t : translator.translate(sources)) hypotheses.push_back(t.text);
      rec.valid_bleu = data::corpus_bleu(hypotheses, references).score;
    }
    rec.seconds = elapsed();
    result.epochs.push_back(rec);
    json j = {{"epoch", rec.epoch}, {"step", step}, {"train_loss", rec.train_loss}, {"valid_loss", rec.valid_loss},
              {"valid_ppl", rec.valid_ppl}, {"seconds", rec.seconds}};
    if (rec.valid_bleu >= 0) j["valid_bleu"] = rec.valid_bleu;
    if (log) log->write(j);
    const bool improved = rec.valid_loss < best || valid.empty();
    if (improved) {
      best = rec.valid_loss;
      bad_epochs = 0;
      if (writer) translator.save(o.out_dir);  // the best model so far
    } else {
      ++bad_epochs;
    }
    if (!quiet)
      fmt::print("epoch {:>3}  train loss {:.4f}  valid loss {:.4f}  ppl {:.2f}{}  {}{}\n", rec.epoch, rec.train_loss,
                 rec.valid_loss, rec.valid_ppl, rec.valid_bleu >= 0 ? fmt::format("  BLEU {:.2f}", rec.valid_bleu) : "",
                 clock_string(rec.seconds), improved ? "  (best, saved)" : "");
    if (writer) write_loss_curve(o.out_dir + "/loss.png", result);
    if (out_of_time) break;  // the checkpoint saved mid-epoch continues this epoch
    ++epoch, batch_in_epoch = 0, epoch_loss = 0, epoch_tokens = 0;  // where a resume from this checkpoint starts
    save();
    if (o.patience > 0 && bad_epochs >= o.patience) {
      result.stop_reason = "early stopping";
      break;
    }
  }
  result.signal = stop_signal;
  if (result.signal) result.stop_reason = fmt::format("interrupted ({})", result.signal == SIGINT ? "SIGINT" : "SIGTERM");
  if (result.stop_reason.empty()) result.stop_reason = out_of_time ? "time budget" : "epochs";
  result.steps = step;
  result.seconds = seconds_since(start);
  result.best_valid_loss = best;
  return result;
}

}  // namespace gg::app
