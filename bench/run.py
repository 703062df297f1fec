#!/usr/bin/python3
"""Runs every benchmark workload in glassgrad and in its PyTorch twin on this machine, in one
run, and prints one table. Called by bench/run.sh after it builds; see README "Benchmarks".

Each number is the median of --repeats runs; both frameworks are run with 1 and 2 threads
and the better setting is reported. The two sides' runs alternate (ours, theirs, ours, ...),
so that a busy spell on a shared machine slows both instead of one. Ratios above 1 mean
glassgrad is faster (for peak memory: uses less).
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


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
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


def paired_medians(ours_cmd, theirs_cmd, unit, repeats):
    """Medians of `repeats` runs of each command, run alternately."""
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(run_measured(ours_cmd, unit, "ours"))
        theirs.append(run_measured(theirs_cmd, unit, "theirs"))
    return statistics.median(ours), statistics.median(theirs)


def both_thread_counts(ours_cmd, theirs_cmd, unit, repeats):
    """([ours at 1, ours at 2 threads], [theirs at 1, theirs at 2])."""
    pairs = [paired_medians(ours_cmd + ["--threads", t], theirs_cmd + ["--threads", t], unit, repeats) for t in ["1", "2"]]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def median_peak_rss(side, cmd_prefix):
    """The median peak RSS over every run of `side` whose command line starts with cmd_prefix."""
    key = " ".join(cmd_prefix)
    values = [v for (s, c), vs in PEAK_RSS.items() if s == side and c.startswith(key) for v in vs]
    return statistics.median(values)


def best(values, higher_is_better):
    return max(values) if higher_is_better else min(values)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="small,medium")
    a = p.parse_args()
    rows, memory_rows = [], []

    core = run([os.path.join(BIN, "bench_core")])
    sgemm = max(float(x) for x in re.findall(r"^\s+\d+\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+)", core, re.M))
    print(core)

    for size in a.sizes.split(","):
        steps = "40" if size == "small" else "5"
        for model in ["lstm-attn", "transformer"]:
            ours, theirs = both_thread_counts(
                [os.path.join(BIN, "bench_seq2seq"), "--model", model, "--size", size, "--steps", steps],
                [PY, os.path.join(ROOT, "bench", "bench_seq2seq.py"), "--model", model, "--size", size, "--steps", steps],
                "tgt_tok/s", a.repeats)
            prof = run([os.path.join(BIN, "bench_seq2seq"), "--model", model, "--size", size, "--steps", steps,
                        "--threads", "2" if ours[1] >= ours[0] else "1", "--profile"])
            # The profiled run gives the matmul GFLOP of a step and the target tokens of a step
            # (both fixed by the synthetic batches); the speed is the median of the runs above,
            # not this one run, which the profiler also slows down.
            gflop_step = float(re.search(r"matmul_gflop_per_step=([0-9.]+)", prof).group(1))
            tokens_step = last_number(prof, "tgt_tok/s") * last_number(prof, "ms/step") / 1e3
            achieved = gflop_step * best(ours, True) / tokens_step
            rows.append((f"train {model} {size} (tgt tok/s)", best(ours, True), best(theirs, True), True,
                         f"{100 * achieved / sgemm:.0f}%"))
            if size == "medium":
                ours_cmd = [os.path.join(BIN, "bench_seq2seq"), "--model", model, "--size", size]
                theirs_cmd = [PY, os.path.join(ROOT, "bench", "bench_seq2seq.py"), "--model", model, "--size", size]
                memory_rows.append((f"peak RSS train {model} {size} (MiB)", median_peak_rss("ours", ours_cmd),
                                    median_peak_rss("theirs", theirs_cmd), False, ""))

    ours, theirs = both_thread_counts([os.path.join(BIN, "bench_decode")],
                                      [PY, os.path.join(ROOT, "bench", "bench_decode.py")], "ms/sentence", a.repeats)
    rows.append(("greedy decode, batch 1 (ms/sentence)", best(ours, False), best(theirs, False), False, ""))
    # int8: glassgrad's Int8Screen (the float32 tokens, the output layer read in int8) against
    # PyTorch's quantize_dynamic of every Linear layer (its tokens may change).
    ours, theirs = both_thread_counts([os.path.join(BIN, "bench_decode"), "--int8"],
                                      [PY, os.path.join(ROOT, "bench", "bench_decode.py"), "--int8"], "ms/sentence",
                                      a.repeats)
    rows.append(("greedy decode, int8 (ms/sentence)", best(ours, False), best(theirs, False), False, ""))

    torch_core = run([PY, os.path.join(ROOT, "bench", "bench_core.py")])
    print(torch_core)
    ours_add = last_number(re.search(r"gg::add, recording the graph.*", core).group(0), "us")
    theirs_add = last_number(re.search(r"torch.add, recording the graph.*", torch_core).group(0), "us")
    rows.append(("tiny add recording the graph (us)", ours_add, theirs_add, False, ""))
    ours_cell = last_number(re.search(r"LSTMCell step.*", core).group(0), "ms")
    theirs_cell = last_number(re.search(r"LSTMCell step.*", torch_core).group(0), "ms")
    rows.append(("LSTM cell fwd+bwd B=64 H=512 (ms)", ours_cell, theirs_cell, False, ""))

    rows += memory_rows
    print(f"raw OpenBLAS sgemm in this run: {sgemm:.1f} GFLOP/s (best of n = 256..2048)\n")
    print(f"{'workload':<40} {'glassgrad':>12} {'PyTorch':>12} {'ratio':>8} {'% sgemm':>8}")
    for name, ours, theirs, higher, roof in rows:
        ratio = ours / theirs if higher else theirs / ours
        print(f"{name:<40} {ours:>12.1f} {theirs:>12.1f} {ratio:>7.2f}x {roof:>8}")
    if memory_rows:
        baseline = float(run([PY, "-c", "import resource, torch; "
                              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"]).strip())
        print(f"\npeak RSS is the whole process's (ru_maxrss, median over the runs above); a Python process that "
              f"only imports torch peaks at {baseline:.0f} MiB")


if __name__ == "__main__":
    main()
