#!/usr/bin/python3
"""Before and after: runs glassgrad's benchmark workloads from two builds, alternating, and
prints the medians side by side. Use it to show that a change costs no speed:

    git worktree add /tmp/before <commit> && cmake -S /tmp/before -B /tmp/before/build \
        -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/before/build -j2 \
        --target bench_seq2seq bench_decode bench_core
    /usr/bin/python3 bench/compare.py --before /tmp/before/build/bin [--repeats 3] [--threads 1,2]

The workloads are bench/run.py's, glassgrad's side only (no PyTorch): training throughput of
the four seq2seq workloads, greedy decoding, and the two micro-benchmarks. Runs alternate
(before, after, before, ...) so that a busy spell on a shared machine slows both sides.
"""
import argparse
import os
import re

from run import ROOT, alternating_medians, decode_workloads, last_number, run, train_workloads


def workloads(threads):
    """(name, binary, arguments, unit of the figure, higher is better)."""
    rows = [(f"train {model} {size} (tgt tok/s)", "bench_seq2seq", args, "tgt_tok/s", True)
            for model, size, args in train_workloads(["small", "medium"])]
    rows += [(f"greedy decode {model}, batch {batch} ({unit})", "bench_decode", args, unit, batch > 1)
             for model, batch, args, unit in decode_workloads()]
    rows.append(("greedy decode, int8 (ms/sentence)", "bench_decode", ["--int8"], "ms/sentence", False))
    return [(f"{name}, {threads} thr", binary, args + ["--threads", threads], unit, higher)
            for name, binary, args, unit, higher in rows]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", required=True, help="bin directory of the build to compare against")
    p.add_argument("--after", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="2")
    a = p.parse_args()

    table = []
    for threads in a.threads.split(","):
        for name, binary, args, unit, higher in workloads(threads):
            before, after = alternating_medians([[os.path.join(d, binary)] + args for d in [a.before, a.after]], unit,
                                                a.repeats)
            table.append((name, before, after, after / before if higher else before / after))
            print(f"{name:<55} {before:>10.1f} {after:>10.1f}", flush=True)
    # The micro-benchmarks print several figures per run; their spread is small, one run each.
    micro = []
    for bin_dir in [a.before, a.after]:
        text = run([os.path.join(bin_dir, "bench_core"), "--threads", "1"])
        micro.append((last_number(re.search(r"gg::add, recording the graph.*", text).group(0), "us"),
                      last_number(re.search(r"LSTMCell step.*", text).group(0), "ms")))
    for i, name in enumerate(["tiny add recording the graph (us), 1 thr", "LSTM cell fwd+bwd B=64 H=512 (ms), 1 thr"]):
        table.append((name, micro[0][i], micro[1][i], micro[0][i] / micro[1][i]))

    print(f"\nmedians of {a.repeats} alternating runs; speed-up above 1 means the after build is faster\n")
    print(f"{'workload':<55} {'before':>10} {'after':>10} {'speed-up':>9}")
    for name, before, after, speedup in table:
        print(f"{name:<55} {before:>10.1f} {after:>10.1f} {speedup:>8.2f}x")


if __name__ == "__main__":
    main()
