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
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"benchmark failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def number(text, pattern):
    m = re.findall(pattern, text)
    if not m:
        sys.exit(f"no match for '{pattern}' in output:\n{text}")
    return float(m[-1])


def workloads(threads):
    """(name, binary, arguments, pattern of the figure, higher is better)."""
    rows = []
    for size, steps in [("small", "40"), ("medium", "5")]:
        for model in ["lstm-attn", "transformer"]:
            rows.append((f"train {model} {size} (tgt tok/s)", "bench_seq2seq",
                         ["--model", model, "--size", size, "--steps", steps], r"([0-9.]+) tgt_tok/s", True))
    for model, batch in [("lstm-attn", 1), ("transformer", 1), ("transformer", 32)]:
        extra = ["--sentences", "5"] if batch > 1 else []
        unit = "ms/sentence" if batch == 1 else "sentences/s"
        rows.append((f"greedy decode {model}, batch {batch} ({unit})", "bench_decode",
                     ["--model", model, "--batch", str(batch)] + extra, r"([0-9.]+) " + unit, batch > 1))
    rows.append(("greedy decode, int8 (ms/sentence)", "bench_decode", ["--int8"], r"([0-9.]+) ms/sentence", False))
    return [(f"{name}, {threads} thr", binary, args + ["--threads", threads], pattern, higher)
            for name, binary, args, pattern, higher in rows]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", required=True, help="bin directory of the build to compare against")
    p.add_argument("--after", default=os.path.join(ROOT, "build", "bin"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="2")
    a = p.parse_args()

    table = []
    for threads in a.threads.split(","):
        for name, binary, args, pattern, higher in workloads(threads):
            samples = {"before": [], "after": []}
            for _ in range(a.repeats):
                for side, bin_dir in [("before", a.before), ("after", a.after)]:
                    samples[side].append(number(run([os.path.join(bin_dir, binary)] + args), pattern))
            before, after = statistics.median(samples["before"]), statistics.median(samples["after"])
            table.append((name, before, after, after / before if higher else before / after))
            print(f"{name:<55} {before:>10.1f} {after:>10.1f}", file=sys.stderr)
    # The micro-benchmarks print several figures per run; their spread is small, one run each.
    for side, bin_dir in [("before", a.before), ("after", a.after)]:
        text = run([os.path.join(bin_dir, "bench_core"), "--threads", "1"])
        samples[side] = (number(re.search(r"gg::add, recording the graph.*", text).group(0), r"([0-9.]+) us"),
                         number(re.search(r"LSTMCell step.*", text).group(0), r"([0-9.]+) ms"))
    for i, name in enumerate(["tiny add recording the graph (us), 1 thr", "LSTM cell fwd+bwd B=64 H=512 (ms), 1 thr"]):
        table.append((name, samples["before"][i], samples["after"][i], samples["before"][i] / samples["after"][i]))

    print(f"\nmedians of {a.repeats} alternating runs; speed-up above 1 means the after build is faster\n")
    print(f"{'workload':<55} {'before':>10} {'after':>10} {'speed-up':>9}")
    for name, before, after, speedup in table:
        print(f"{name:<55} {before:>10.1f} {after:>10.1f} {speedup:>8.2f}x")


if __name__ == "__main__":
    main()
