#!/usr/bin/python3
"""PyTorch twin of build/bin/bench_seq2seq: the same workload, the same output line.

    /usr/bin/python3 bench/bench_seq2seq.py --model lstm-attn --size small --steps 20 --threads 2

--precision bf16 runs the forward pass and the loss under torch.autocast("cpu", dtype=torch.bfloat16),
the way a PyTorch user trains in mixed precision on a CPU (matrix products in bfloat16,
parameters, gradients and optimizer state in float32).

--ranks N trains with DistributedDataParallel over N processes (gloo backend on localhost,
started here with torch.multiprocessing), each taking rows rank, rank + N, ... of every batch,
as build/bin/bench_seq2seq does under mpirun; rank 0 prints the global tokens/s.
"""
import argparse
import contextlib
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lstm-attn")
    p.add_argument("--size", default="small")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--ranks", type=int, default=1)
    a = p.parse_args()
    if a.ranks > 1:
        import torch.multiprocessing as mp
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        mp.spawn(run, args=(a,), nprocs=a.ranks, join=True)
    else:
        run(0, a)


def run(rank, a):
    ddp = a.ranks > 1
    if ddp:
        import torch.distributed as dist
        dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    s = workloads.SIZES[a.size]
    model = workloads.make_model(a.model, a.size)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [workloads.make_batch(s["V"], s["B"], s["L"], i) for i in range(8)]

    def shard(batch):  # this rank's rows, as glassgrad takes them
        src, src_len, tin, tout, tokens = batch
        if not ddp:
            return batch
        rows = slice(rank, None, a.ranks)
        return src[rows], src_len[rows], tin[rows], tout[rows], int((tout[rows] != 0).sum())

    def autocast():
        if a.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(batch):
        src, src_len, tin, tout, _ = shard(batch)
        with autocast():
            logits = model(src, src_len, tin)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for i in range(2):
        train_step(batches[i])
    tokens, loss = 0, 0.0
    if ddp:
        torch.distributed.barrier()
    start = time.perf_counter()
    for i in range(a.steps):
        batch = batches[(i + 2) % len(batches)]
        loss = train_step(batch)
        tokens += batch[4]
    seconds = time.perf_counter() - start
    if rank != 0:
        return
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    ranks = f" ranks={a.ranks}" if ddp else ""
    print(f"pytorch {a.model} {a.size} {a.precision}{ranks} threads={a.threads} steps={a.steps} loss={loss:.4f} peak_rss={peak:.0f}MiB "
          f"{1e3 * seconds / a.steps:.1f} ms/step {tokens / seconds:.1f} tgt_tok/s")


if __name__ == "__main__":
    main()
