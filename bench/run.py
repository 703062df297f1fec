#!/usr/bin/python3
"""Runs every benchmark workload in glassgrad and in its PyTorch twin on this machine, in one
run, and prints one table. Called by bench/run.sh after it builds; see README "Benchmarks".

Each number is the median of --repeats runs; both frameworks are run with 1 and 2 threads
and the better setting is reported; PyTorch's training also in float32 and in bfloat16
autocast, and its best is what the ratio divides by. The sides' runs alternate (ours,
theirs, ours, ...), so that a busy spell on a shared machine slows all instead of one. Ratios
above 1 mean glassgrad is faster (for peak memory: uses less). "% machine" is the share of the
machine's float32 peak (bench_core's, measured in the same run at the same thread count) that
glassgrad's matrix products reach over a whole training step.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
PY = "/usr/bin/python3"
# Both sides run with the OpenMP defaults a user's program gets. (The tests set
# OMP_WAIT_POLICY=passive because ctest runs them side by side; here it would make every
# parallel region wake a sleeping thread, and halve glassgrad's small workloads.)
ENV = dict(os.environ)
# PyTorch at its best on this machine: glibc's default of handing freed memory back to the
# kernel makes PyTorch fault pages in again on every step (2.5-3x slower on the medium LSTM);
# these settings keep it, as tcmalloc would. glassgrad's caching allocator runs the same either
# way.
TORCH_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "68719476736",
                "MALLOC_TOP_PAD_": "1073741824"}
TORCH_ENV = dict(os.environ, **TORCH_MALLOC)


def run(cmd):
    env = TORCH_ENV if cmd[0] == PY else ENV
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"benchmark failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def last_number(text, unit):
    m = re.findall(r"([0-9.]+) " + re.escape(unit), text)
    if not m:
        sys.exit(f"no '{unit}' in output:\n{text}")
    return float(m[-1])


# Peak resident memory of each run, by (side, command line): the training benchmarks print
# `peak_rss=<MiB>MiB` (getrusage's ru_maxrss of the whole process).
PEAK_RSS = {}


def run_measured(cmd, unit, side):
    out = run(cmd)
    m = re.search(r"peak_rss=([0-9.]+)MiB", out)
    if m:
        PEAK_RSS.setdefault((side, " ".join(cmd)), []).append(float(m.group(1)))
    return last_number(out, unit)


def alternating_medians(cmds, unit, repeats):
    """Medians of `repeats` runs of each command, the commands run in turn."""
    samples = [[] for _ in cmds]
    for _ in range(repeats):
        for cmd, values in zip(cmds, samples):
            side = "theirs" if cmd[0] == PY else "ours bf16" if "bf16" in cmd else "ours"
            values.append(run_measured(cmd, unit, side))
    return [statistics.median(v) for v in samples]


def both_thread_counts(ours_cmd, theirs_cmds, unit, repeats):
    """ours at 1 and 2 threads, and each of theirs at 1 and 2 threads: ([o1, o2], [[t1, t2], ...])."""
    by_threads = [alternating_medians([c + ["--threads", t] for c in [ours_cmd] + theirs_cmds], unit, repeats)
                  for t in ["1", "2"]]
    ours = [m[0] for m in by_threads]
    theirs = [[m[1 + i] for m in by_threads] for i in range(len(theirs_cmds))]
    return ours, theirs


def median_peak_rss(side, cmd_prefix):
    """The median peak RSS over every run of `side` whose command line starts with cmd_prefix."""
    key = " ".join(cmd_prefix)
    values = [v for (s, c), vs in PEAK_RSS.items() if s == side and c.startswith(key) for v in vs]
    return statistics.median(values)


def best(values, higher_is_better):
    return max(values) if higher_is_better else min(values)


def train_workloads(sizes):
    """bench_seq2seq's training rows, shared with compare.py: (model, size, arguments)."""
    return [(model, size, ["--model", model, "--size", size, "--steps", "40" if size == "small" else "5"])
            for size in sizes for model in ["lstm-attn", "transformer"]]


def decode_workloads():
    """bench_decode's greedy rows, shared with compare.py: (model, batch, arguments, unit); ms
    per sentence at batch 1 (lower is better), sentences per second at batch 32 (higher)."""
    return [(model, batch, ["--model", model, "--batch", str(batch)] + (["--sentences", "5"] if batch > 1 else []),
             "ms/sentence" if batch == 1 else "sentences/s")
            for model, batch in [("lstm-attn", 1), ("transformer", 1), ("transformer", 32)]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="small,medium")
    a = p.parse_args()
    rows, memory_rows = [], []

    core = run([os.path.join(BIN, "bench_core"), "--threads", "2"])
    print(core)
    peak = {}  # threads -> GFLOP/s
    for threads, text in [("1", run([os.path.join(BIN, "bench_core"), "--threads", "1"])), ("2", core)]:
        line = re.search(r"machine peak.*", text).group(0)
        peak[threads] = float(re.search(r": ([0-9.]+) GFLOP/s", line).group(1))
        print(line)

    # glassgrad's bf16 rows only where bfloat16 products are faster than float32 (bench_seq2seq
    # says otherwise, and runs float32: no AVX512_BF16 on this CPU, or an OpenBLAS build).
    probe = run([os.path.join(BIN, "bench_seq2seq"), "--steps", "1", "--precision", "bf16"])
    ours_bf16 = "running float32" not in probe
    if not ours_bf16:
        print(probe.splitlines()[0] + "\n")

    for model, size, args in train_workloads(a.sizes.split(",")):
        theirs_cmd = [PY, os.path.join(ROOT, "bench", "bench_seq2seq.py")] + args
        ours_cmd = [os.path.join(BIN, "bench_seq2seq")] + args
        theirs_cmds = [theirs_cmd + ["--precision", "fp32"], theirs_cmd + ["--precision", "bf16"]]
        # glassgrad's bf16 runs, where they happen, take their turn among PyTorch's.
        others = theirs_cmds + ([ours_cmd + ["--precision", "bf16"]] if ours_bf16 else [])
        ours, (theirs_fp32, theirs_bf16, *ours_bf16_runs) = both_thread_counts(ours_cmd, others, "tgt_tok/s",
                                                                                a.repeats)
        threads = "2" if ours[1] >= ours[0] else "1"
        prof = run([os.path.join(BIN, "bench_seq2seq")] + args + ["--threads", threads, "--profile"])
        # The profiled run gives the matmul GFLOP of a step and the target tokens of a step
        # (both fixed by the synthetic batches); the speed is the median of the runs above,
        # not this one run, which the profiler also slows down.
        gflop_step = float(re.search(r"matmul_gflop_per_step=([0-9.]+)", prof).group(1))
        tokens_step = last_number(prof, "tgt_tok/s") * last_number(prof, "ms/step") / 1e3
        achieved = gflop_step * best(ours, True) / tokens_step
        rows.append((f"train {model} {size} (tgt tok/s)", best(ours, True), best(theirs_fp32, True),
                     best(theirs_bf16, True), True, f"{100 * achieved / peak[threads]:.0f}%"))
        if ours_bf16_runs:
            rows.append((f"train {model} {size} bf16 (tgt tok/s)", best(ours_bf16_runs[0], True),
                         best(theirs_fp32, True), best(theirs_bf16, True), True, ""))
        if size == "medium":  # glassgrad against PyTorch in float32
            memory_rows.append((f"peak RSS train {model} {size} (MiB)", median_peak_rss("ours", ours_cmd),
                                median_peak_rss("theirs", theirs_cmd + ["--precision", "fp32"]), None, False, ""))

    # Greedy decoding: ms per sentence at batch 1, sentences per second at batch 32. The
    # Transformer decodes with glassgrad's key/value cache; torch.nn.TransformerDecoder has
    # none, and re-runs the prefix at every step, as its users' decoders do.
    for model, batch, args, unit in decode_workloads():
        ours, (theirs,) = both_thread_counts([os.path.join(BIN, "bench_decode")] + args,
                                             [[PY, os.path.join(ROOT, "bench", "bench_decode.py")] + args], unit,
                                             a.repeats)
        higher = batch > 1
        rows.append((f"greedy decode {model}, batch {batch} ({unit})", best(ours, higher), best(theirs, higher),
                     None, higher, ""))
    # int8: glassgrad's Int8Screen (the float32 tokens, the output layer read in int8) against
    # PyTorch's quantize_dynamic of every Linear layer (its tokens may change).
    ours, (theirs,) = both_thread_counts([os.path.join(BIN, "bench_decode"), "--int8"],
                                         [[PY, os.path.join(ROOT, "bench", "bench_decode.py"), "--int8"]],
                                         "ms/sentence", a.repeats)
    rows.append(("greedy decode, int8 (ms/sentence)", best(ours, False), best(theirs, False), None, False, ""))

    torch_core = run([PY, os.path.join(ROOT, "bench", "bench_core.py")])
    print(torch_core)
    ours_add = last_number(re.search(r"gg::add, recording the graph.*", core).group(0), "us")
    theirs_add = last_number(re.search(r"torch.add, recording the graph.*", torch_core).group(0), "us")
    rows.append(("tiny add recording the graph (us)", ours_add, theirs_add, None, False, ""))
    ours_cell = last_number(re.search(r"LSTMCell step.*", core).group(0), "ms")
    theirs_cell = last_number(re.search(r"LSTMCell step.*", torch_core).group(0), "ms")
    rows.append(("LSTM cell fwd+bwd B=64 H=512 (ms)", ours_cell, theirs_cell, None, False, ""))

    rows += memory_rows
    print(f"\nmachine peak, float32: {peak['1']:.1f} GFLOP/s on 1 thread, {peak['2']:.1f} on 2 (best of an FMA loop "
          f"and of the products in bench_core)")
    print("PyTorch ran with " + " ".join(f"{k}={v}" for k, v in TORCH_MALLOC.items()) + " (glibc keeps freed memory)")
    print("glassgrad float32" + (" and bf16" if ours_bf16 else " (bf16 not faster here)") +
          "; PyTorch float32 and bf16 autocast; ratio against PyTorch's best of the two\n")
    print(f"{'workload':<50} {'glassgrad':>10} {'PyTorch':>10} {'PT bf16':>10} {'ratio':>8} {'% machine':>10}")
    for name, ours, theirs, theirs_bf16, higher, roof in rows:
        their_best = theirs if theirs_bf16 is None else best([theirs, theirs_bf16], higher)
        ratio = ours / their_best if higher else their_best / ours
        bf16 = "-" if theirs_bf16 is None else f"{theirs_bf16:.1f}"
        print(f"{name:<50} {ours:>10.1f} {theirs:>10.1f} {bf16:>10} {ratio:>7.2f}x {roof:>10}")
    if memory_rows:
        baseline = float(run([PY, "-c", "import resource, torch; "
                              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"]).strip())
        print(f"\npeak RSS is the whole process's (ru_maxrss, median over the runs above); a Python process that "
              f"only imports torch peaks at {baseline:.0f} MiB")


if __name__ == "__main__":
    main()
