#!/usr/bin/python3
"""Data-parallel training on this machine: glassgrad over MPI against itself on one process and
against PyTorch's DistributedDataParallel (gloo), on the medium workloads (bench/workloads.h).

    bash bench/run.sh --dist [--repeats N]          (builds first), or
    /usr/bin/python3 bench/dist.py [--repeats N] [--models lstm-attn,transformer]

Rows, each the median of --repeats runs, the runs of a model alternating: glassgrad 1 rank x 1
thread, 1 rank x 2 threads, 2 ranks x 1 thread (exact reduction in shared memory, exact by MPI
messages as between machines, fast reduction by MPI_Allreduce); PyTorch 1 process x
1 thread and DDP 2 processes x 1 thread, with the allocator setting of bench/run.py. Every
configuration trains on the same global batches (2 ranks: each takes every other row). Scaling
efficiency = (2 ranks' tokens/s) / (2 x 1 rank's). The reduction's cost per step is rank 0's,
from bench_seq2seq's data-parallel line.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402  (bench/run.py: paths, environments, helpers)

MPIRUN = ["mpirun", "-np", "2", "--bind-to", "none"]
# What mpirun needs in a container (root, no ssh); cross-memory attach off, as in tests/.
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_plm": "isolated",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_btl_vader_single_copy_mechanism": "none"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", default="lstm-attn,transformer")
    p.add_argument("--steps", default="5")
    a = p.parse_args()
    os.environ.update(MPI_ENV)
    common.ENV.update(MPI_ENV)
    common.TORCH_ENV.update(MPI_ENV)
    ours = os.path.join(common.BIN, "bench_seq2seq")
    theirs = [common.PY, os.path.join(common.ROOT, "bench", "bench_seq2seq.py")]
    table = []
    for model in a.models.split(","):
        args = ["--model", model, "--size", "medium", "--steps", a.steps]
        configs = [
            ("glassgrad 1 rank x 1 thread", [ours] + args + ["--threads", "1"]),
            ("glassgrad 1 rank x 2 threads", [ours] + args + ["--threads", "2"]),
            ("glassgrad 2 ranks x 1 thread, exact", MPIRUN + [ours] + args + ["--threads", "1", "--reduce", "exact"]),
            ("glassgrad 2 ranks x 1 thread, exact, messages",
             MPIRUN + ["-x", "GG_DIST_SHARED_MEMORY=0", ours] + args + ["--threads", "1", "--reduce", "exact"]),
            ("glassgrad 2 ranks x 1 thread, fast", MPIRUN + [ours] + args + ["--threads", "1", "--reduce", "fast"]),
            ("PyTorch 1 process x 1 thread", theirs + args + ["--threads", "1"]),
            ("PyTorch DDP (gloo) 2 x 1 thread", theirs + args + ["--threads", "1", "--ranks", "2"]),
        ]
        samples = {name: [] for name, _ in configs}
        comm = {name: [] for name, _ in configs}
        for _ in range(a.repeats):
            for name, cmd in configs:
                env = common.TORCH_ENV if common.PY in cmd else common.ENV
                out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    sys.exit(f"benchmark failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
                samples[name].append(common.last_number(out.stdout, "tgt_tok/s"))
                m = re.search(r"per step: ([0-9.]+) ms starting reductions, ([0-9.]+) ms waiting after backward; "
                              r"the reduction alone ([0-9.]+) ms", out.stdout)
                if m:
                    comm[name].append(tuple(float(x) for x in m.groups()))
                    mib = re.search(r"([0-9.]+) MiB of gradients", out.stdout).group(1)
        medians = {name: statistics.median(v) for name, v in samples.items()}
        one = medians["glassgrad 1 rank x 1 thread"]
        ddp = medians["PyTorch DDP (gloo) 2 x 1 thread"]
        for name, _ in configs:
            note = ""
            if "2 ranks" in name:
                start, wait, alone = (statistics.median(x[i] for x in comm[name]) for i in range(3))
                note = (f"efficiency {100 * medians[name] / (2 * one):.0f}%, {medians[name] / ddp:.2f}x DDP; "
                        f"{mib} MiB/step: {start:.1f} ms in hooks + {wait:.1f} ms after backward (alone {alone:.1f} ms)")
            elif "DDP" in name:
                note = f"efficiency {100 * medians[name] / (2 * medians['PyTorch 1 process x 1 thread']):.0f}%"
            table.append((model, name, medians[name], note))
    print(f"\n{'model':<12} {'configuration':<46} {'tgt tok/s':>10}  notes")
    for model, name, value, note in table:
        print(f"{model:<12} {name:<46} {value:>10.1f}  {note}")


if __name__ == "__main__":
    main()
