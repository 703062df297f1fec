// Training throughput of a seq2seq workload (bench/workloads.h), in target tokens per second.
//
//   build/bin/bench_seq2seq --model lstm-attn|transformer --size small|medium [--steps N]
//                           [--threads T] [--precision fp32|bf16] [--profile]
//
// --precision bf16 runs the loss and its backward under gg::autocast (bfloat16 products);
// where bfloat16 is not faster than float32 (core/autocast.h, bf16_is_fast) it says so and
// runs float32, as `translate train --precision bf16` does.
// Adam (lr 1e-3), gradient-norm clipping at 1.0, cross-entropy ignoring padding. After two
// warm-up steps, N steps are timed; the last line ends with "<number> tgt_tok/s".
// --profile prints the op profiler's table for the timed steps, and the matmul GFLOP/s.
//
// Under mpirun (mpirun -np 2 build/bin/bench_seq2seq ... --threads 1) every rank trains on its
// rows of each batch (the global batch keeps its size) with dist::DataParallel (--reduce
// exact|fast); rank 0 prints the global tokens/s, the reduction's time per step (started in
// backward's hooks, waited for after it) and, for comparison, the same reduction run alone,
// after backward: the part of it the overlap hid.
#include <fmt/core.h>

#include <sys/resource.h>

#include <chrono>
#include <string>

#include "bench/workloads.h"

int main(int argc, char** argv) try {
  std::string model_name = "lstm-attn", size = "small";
  int steps = 20, threads = gg::num_threads();
  bool profile = false;
  std::string precision_name = "fp32", reduce = "exact";
  gg::dist::init();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw gg::Error(fmt::format("bench_seq2seq: {} needs a value", arg));
      return argv[++i];
    };
    if (arg == "--model") model_name = value();
    else if (arg == "--size") size = value();
    else if (arg == "--steps") steps = std::stoi(value());
    else if (arg == "--threads") threads = std::stoi(value());
    else if (arg == "--precision") precision_name = value();
    else if (arg == "--profile") profile = true;
    else if (arg == "--reduce") reduce = value();
    else throw gg::Error(fmt::format("bench_seq2seq: unknown option '{}'; usage: bench_seq2seq --model "
                                     "lstm-attn|transformer --size small|medium [--steps N] [--threads T] [--precision fp32|bf16] [--reduce exact|fast] [--profile]", arg));
  }
  gg::Precision precision = gg::parse_precision(precision_name, "bench_seq2seq: --precision");
  if (precision == gg::Precision::BFloat16 && !gg::bf16_is_fast()) {
    fmt::print("--precision bf16: {}; running float32\n", gg::bf16_not_fast_reason());
    precision = gg::Precision::Float32;
  }
  gg::set_num_threads(threads);
  gg::manual_seed(0);
  const gg::bench::WorkloadSize w = gg::bench::workload_size(size);
  auto model = gg::bench::make_model(model_name, w);
  gg::optim::Adam optimizer(model->parameters(), {.lr = 1e-3});
  const int rank = gg::dist::rank(), world = gg::dist::world_size();
  std::unique_ptr<gg::dist::DataParallel> ddp;
  if (gg::dist::initialized())
    ddp = std::make_unique<gg::dist::DataParallel>(model->parameters(),
                                                   gg::dist::DataParallelOptions{.mode = gg::dist::parse_mode(reduce)});
  double start_seconds = 0, wait_seconds = 0;
  const int64_t B = w.B, L = w.L, V = w.V;
  std::vector<gg::bench::Batch> batches;
  for (uint64_t i = 0; i < 8; ++i) batches.push_back(gg::bench::make_batch(V, B, L, i));

  auto train_step = [&](const gg::bench::Batch& global) {
    // Seq2Seq::loss sends only the non-padding positions through the output layer (the
    // PyTorch twin, written as a PyTorch user would, projects every position).
    const gg::bench::Batch batch = gg::bench::shard(global, rank, world);
    gg::Tensor loss;
    {
      gg::autocast scope(precision);  // backward's products run in the precision forward's did
      loss = model->loss(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out,
                         {.ignore_index = 0, .reduction = ddp ? gg::Reduction::Sum : gg::Reduction::Mean});
    }
    optimizer.zero_grad();
    int64_t tokens = 0;
    if (ddp) ddp->begin_step();
    loss.backward();
    if (ddp) {
      tokens = ddp->finish(batch.target_tokens);
      start_seconds += ddp->last_step().start_seconds;
      wait_seconds += ddp->last_step().wait_seconds;
    }
    gg::optim::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    return ddp ? gg::dist::sum(loss.item()) / static_cast<double>(tokens) : loss.item();
  };
  for (int i = 0; i < 2; ++i) train_step(batches[i % batches.size()]);  // warm-up: first allocations, page faults

  std::unique_ptr<gg::Profiler> profiler;
  if (profile) profiler = std::make_unique<gg::Profiler>();
  int64_t tokens = 0;
  double loss = 0;
  start_seconds = wait_seconds = 0;
  gg::dist::barrier();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto& batch = batches[(i + 2) % batches.size()];
    loss = train_step(batch);
    tokens += batch.target_tokens;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ddp) {
    // The same reduction alone, every bucket started after backward: what the overlap saved.
    const auto alone_start = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) {
      ddp->begin_step();
      ddp->finish(1);
    }
    const double alone = std::chrono::duration<double>(std::chrono::steady_clock::now() - alone_start).count() / 5;
    const double per_step_wait = wait_seconds / steps, per_step_start = start_seconds / steps;
    if (rank == 0)
      fmt::print("data-parallel: {} ranks, {} reduction ({}), {} buckets, {:.1f} MiB of gradients per step; per step: "
                 "{:.2f} ms starting reductions, {:.2f} ms waiting after backward; the reduction alone {:.2f} ms "
                 "(hidden behind backward: {:.0f}%)\n",
                 world, reduce, ddp->shared_memory() ? "shared memory" : "MPI messages", ddp->bucket_count(), static_cast<double>(ddp->gradient_bytes()) / (1 << 20),
                 1e3 * per_step_start, 1e3 * per_step_wait, 1e3 * alone,
                 100 * std::max(0.0, 1 - (per_step_start + per_step_wait) / std::max(1e-12, alone)));
  }
  if (rank != 0) return 0;
  if (profiler) {
    double matmul_flops = 0, matmul_seconds = 0;
    for (const auto& [key, e] : profiler->entries())
      if (key.first.starts_with("matmul")) matmul_flops += e.flops, matmul_seconds += e.seconds;  // and "matmul bf16"
    fmt::print("{}", profiler->table(25));
    fmt::print("kernels {:.1f}% of wall time; matmul {:.2f} GFLOP in total, {:.1f} GFLOP/s overall\n",
               100 * profiler->total_seconds() / seconds, matmul_flops / 1e9, matmul_flops / seconds / 1e9);
    fmt::print("matmul_gflop_per_step={:.4f}\n", matmul_flops / 1e9 / steps);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // ru_maxrss: peak resident set size, KiB on Linux
  fmt::print("glassgrad {} {} {}{} threads={} steps={} loss={:.4f} peak_rss={:.0f}MiB {:.1f} ms/step {:.1f} tgt_tok/s\n",
             model_name, size, gg::precision_name(precision), ddp ? fmt::format(" ranks={}", world) : "", threads, steps, loss, usage.ru_maxrss / 1024.0, 1e3 * seconds / steps,
             static_cast<double>(tokens) / seconds);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  if (gg::dist::world_size() > 1) gg::dist::abort(1);  // the other ranks would wait for this one
  return 1;
}
