#pragma once
// Training a Translator: teacher-forced cross-entropy over bucketed, padded batches, Adam,
// gradient clipping, an optional warmup schedule, validation loss, perplexity and BLEU after
// every epoch, the best checkpoint kept, early stopping, a wall-clock budget, and resuming.
//
// Progress goes to the terminal (a one-line progress bar with epoch, loss, tokens/s and ETA
// when stdout is a terminal, periodic lines otherwise) and to DIR/metrics.jsonl: one JSON
// object per logged step ({"step", "epoch", "loss", "lr", "grad_norm", "tok_per_s"}) and per
// epoch ({"epoch", "valid_loss", "valid_ppl", "valid_bleu", ...}).
#include <string>
#include <vector>

#include "core/autocast.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "models/translator.h"

namespace gg::models {

struct TrainOptions {
  std::string out_dir;            // the model directory; checkpoints and metrics go here
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-3;
  double clip = 1.0;              // gradient-norm clipping; 0 = off
  double label_smoothing = 0.0;
  double teacher_forcing = 1.0;   // < 1: scheduled sampling (see Seq2Seq::teacher_forcing)
  int64_t warmup_steps = 0;       // > 0: linear warmup then 1/sqrt(step) (the Transformer schedule)
  double time_budget_minutes = 0; // > 0: stop (after saving) when this much wall-clock time has passed
  int64_t patience = 0;           // > 0: stop after this many epochs without a better validation loss
  int64_t valid_bleu_sentences = 500;  // validation BLEU on at most this many sentences (greedy); 0 = off
  int64_t log_every = 50;         // steps between metrics lines
  uint64_t seed = 0;
  Precision precision = Precision::Float32;  // of the matrix products; BFloat16: mixed precision (gg::autocast)
  bool resume = false;            // continue from out_dir's optimizer and trainer state
  bool quiet = false;
};

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
  std::string stop_reason;  // "epochs", "time budget", "early stopping"
};

// Trains `translator` on `train`, validating on `valid` (and `valid_text` for BLEU).
// The best model by validation loss is saved to options.out_dir after every improvement.
TrainResult train(Translator& translator, const std::vector<data::EncodedPair>& train,
                  const std::vector<data::EncodedPair>& valid, const std::vector<data::SentencePair>& valid_text,
                  const TrainOptions& options);

// Mean per-token cross-entropy of the model on `pairs` (no dropout, no graph).
double evaluate_loss(Seq2Seq& model, const std::vector<data::EncodedPair>& pairs, int64_t batch_size = 64);

}  // namespace gg::models
