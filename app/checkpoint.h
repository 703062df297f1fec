#pragma once
// A training checkpoint: everything `--resume` needs, saved as one unit.
//
//   DIR/checkpoints/step-00001200/
//     model.safetensors       the weights
//     optimizer.safetensors   the optimizer's state, and the LR schedule's ("schedule.<key>")
//     trainer.json            where training stands: epoch, batch, step, the RNG, running sums
//     manifest.json           step, epoch and batch, and each file above's size and SHA-256
//
// The files are written into checkpoints/.tmp-step-.../ and the directory is published with
// one rename (core/file_io.h), so a checkpoint exists whole or not at all, and the one before
// it survives any crash. Loading checks every file against the manifest: a damaged file, or a
// file from another checkpoint, is an error naming it. The newest `keep` checkpoints stay;
// older ones are removed once the new one is on disk.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace gg::app {

struct Checkpoint {
  int64_t step = 0, epoch = 0, batch_in_epoch = 0;  // epoch is 0-based: the epoch being trained
  NamedTensors model, optimizer;
  nlohmann::json trainer;  // the trainer's own state (app/trainer.cpp)
};

// Saves `c` under model_dir/checkpoints/ and returns its directory.
std::string save_checkpoint(const std::string& model_dir, const Checkpoint& c, int64_t keep);

// The checkpoint directories of a model directory, oldest first.
std::vector<std::string> list_checkpoints(const std::string& model_dir);

// Loads and verifies one checkpoint directory.
Checkpoint load_checkpoint(const std::string& checkpoint_dir);

}  // namespace gg::app
