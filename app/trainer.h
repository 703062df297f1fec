#pragma once
// Training a Translator: teacher-forced cross-entropy over bucketed, padded batches, Adam,
// gradient clipping, an optional warmup schedule, validation loss, perplexity and BLEU after
// every epoch, the best checkpoint kept, early stopping, a wall-clock budget, and resuming.
//
// Progress goes to the terminal (a one-line progress bar with epoch, loss, tokens/s and ETA
// when stdout is a terminal, periodic lines otherwise) and to DIR/metrics.jsonl: one JSON
// object per logged step ({"step", "epoch", "loss", "lr", "grad_norm", "tok_per_s"}) and per
// epoch ({"epoch", "valid_loss", "valid_ppl", "valid_bleu", ...}).
//
// Nothing is lost to a crash or an interrupt: a checkpoint (app/checkpoint.h) is saved at
// the start, every few minutes or steps, at the end of every epoch and when training stops;
// SIGINT or SIGTERM finishes the current step, saves and returns (a second one ends the
// process at once). A resumed run continues from the newest checkpoint and computes exactly
// what the uninterrupted run would have: same batches, same random numbers, same updates, and
// metrics.jsonl cut back to the checkpoint so that it holds no step twice.
//
// Under mpirun, every rank runs train() on the same data: each takes its share of every batch
// (data::shard), the ranks sum their gradients (dist::DataParallel) and take the same step, and
// only rank 0 writes (model directory, checkpoints, metrics, progress). A run may be resumed
// with another number of ranks: the batches depend on the seed and the epoch only, and each
// rank's random numbers on (seed, step, rank).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/autocast.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "dist/data_parallel.h"
#include "app/translator.h"

namespace gg::app {

struct TrainOptions {
  std::string out_dir;            // the model directory; checkpoints and metrics go here
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-3;
  double clip = 1.0;              // gradient-norm clipping; 0 = off
  double label_smoothing = 0.0;
  double teacher_forcing = 1.0;   // < 1: scheduled sampling (see models::Seq2Seq::teacher_forcing)
  int64_t warmup_steps = 0;       // > 0: linear warmup then 1/sqrt(step) (the Transformer schedule)
  double time_budget_minutes = 0; // > 0: stop (after saving) when this much wall-clock time has passed
  int64_t patience = 0;           // > 0: stop after this many epochs without a better validation loss
  int64_t valid_bleu_sentences = 500;  // validation BLEU on at most this many sentences (greedy); 0 = off
  int64_t log_every = 50;         // steps between metrics lines
  uint64_t seed = 0;
  Precision precision = Precision::Float32;  // of the matrix products; BFloat16: mixed precision (gg::autocast)
  double save_every_minutes = 10; // a checkpoint at least this often (0: off)...
  int64_t save_every_steps = 0;   // ...and every this many steps (0: off)
  int64_t keep_checkpoints = 3;   // the newest this many checkpoints stay on disk (0: all)
  bool handle_signals = true;     // SIGINT / SIGTERM: save and stop after the current step
  bool resume = false;            // continue from out_dir's newest checkpoint
  bool quiet = false;
  // Under mpirun (dist::initialized()): every rank trains on its share of each batch and the
  // gradients are summed over the ranks this way (dist/data_parallel.h).
  dist::ReduceMode reduce = dist::ReduceMode::Exact;
};

// The options a resumed run must share with the run it continues (they decide the batches, the
// updates and the random streams); every checkpoint records them, and train(resume) refuses
// options that differ, naming each.
nlohmann::json resume_options(const TrainOptions& options);

struct EpochRecord {
  int64_t epoch = 0, step = 0;
  double train_loss = 0, valid_loss = 0, valid_ppl = 0, valid_bleu = -1, seconds = 0;
};

struct TrainResult {
  std::vector<EpochRecord> epochs;
  std::vector<std::pair<int64_t, double>> step_losses;  // (step, loss) at every logged step
  int64_t steps = 0;
  double seconds = 0;
  double best_valid_loss = 0;
  std::string stop_reason;  // "epochs", "time budget", "early stopping", "interrupted (SIGINT)"
  int signal = 0;           // SIGINT or SIGTERM when a signal stopped training
  std::string checkpoint;   // the last checkpoint saved
};

// Trains `translator` on `train`, validating on `valid` (and `valid_text` for BLEU).
// The best model by validation loss is saved to options.out_dir after every improvement.
TrainResult train(Translator& translator, const std::vector<data::EncodedPair>& train,
                  const std::vector<data::EncodedPair>& valid, const std::vector<data::SentencePair>& valid_text,
                  const TrainOptions& options);

// Mean per-token cross-entropy of the model on `pairs` (no dropout, no graph).
double evaluate_loss(models::Seq2Seq& model, const std::vector<data::EncodedPair>& pairs, int64_t batch_size = 64);

}  // namespace gg::app
