#!/usr/bin/python3
"""PyTorch twin of build/bin/bench_core: matmul GFLOP/s, tiny-op overhead, LSTM cell step."""
import argparse
import statistics
import time

import torch


def seconds_per_call(f, batches=7, batch_seconds=0.05):
    def timed(n):
        start = time.perf_counter()
        for _ in range(n):
            f()
        return time.perf_counter() - start
    n = 1
    while timed(n) < batch_seconds / 4 and n < (1 << 30):
        n *= 4
    n = max(1, int(n * batch_seconds / max(1e-9, timed(n))))
    return statistics.median(timed(n) / n for _ in range(batches))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"pytorch core benchmark, {a.threads} thread(s), torch {torch.__version__}")
    print("\nmatmul, float32, [n, n] @ [n, n] (median GFLOP/s)")
    for n in [256, 512, 1024, 2048]:
        x, y = torch.randn(n, n), torch.randn(n, n)
        t = seconds_per_call(lambda: torch.mm(x, y))
        print(f"{n:>6} {2 * n ** 3 / t / 1e9:>14.1f}")
    print("\ntiny op overhead: add of two float32 [4] tensors (median microseconds per call)")
    x, y = torch.randn(4), torch.randn(4)
    w = torch.randn(4, requires_grad=True)
    print(f"  {'torch.add, inputs need no grad':<36} {seconds_per_call(lambda: torch.add(x, y)) * 1e6:>8.3f} us")
    print(f"  {'torch.add, recording the graph':<36} {seconds_per_call(lambda: torch.add(w, y)) * 1e6:>8.3f} us")
    print(f"  {'torch.add + backward':<36} {seconds_per_call(lambda: torch.add(w, y).sum().backward()) * 1e6:>8.3f} us")
    print("\nLSTM cell forward + backward, B=64, input 256, hidden 512, float32 (median milliseconds)")
    cell = torch.nn.LSTMCell(256, 512)
    xi = torch.randn(64, 256, requires_grad=True)
    h, c, r = torch.randn(64, 512), torch.randn(64, 512), torch.randn(64, 512)

    def step():
        hn, cn = cell(xi, (h, c))
        (hn * r + cn).sum().backward()
    print(f"  {'LSTMCell step, forward + backward':<36} {seconds_per_call(step) * 1e3:>8.3f} ms")


if __name__ == "__main__":
    main()
