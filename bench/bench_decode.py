#!/usr/bin/python3
"""PyTorch twin of build/bin/bench_decode: greedy decoding, batch 1, medium LSTM-attention,
source length 20, exactly 25 decode steps, under torch.no_grad().

--int8 applies PyTorch's own dynamic int8 quantization to the model's Linear layers
(torch.quantization.quantize_dynamic, fbgemm): the twin of glassgrad's --int8, which screens
the output layer in int8. PyTorch's version changes the logits (its tokens may differ from
float32's); glassgrad's keeps the float32 tokens."""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--sentences", type=int, default=20)
    p.add_argument("--int8", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    s = workloads.SIZES["medium"]
    model = workloads.make_model("lstm-attn", "medium").eval()
    if a.int8:
        model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    S, steps = 20, 25
    times = []
    with torch.no_grad():
        for n in range(-2, a.sentences):
            rng = workloads.Lcg(n + 100)
            src = torch.tensor([[rng.uniform(3, s["V"]) for _ in range(S)]])
            src_len = torch.tensor([S])
            start = time.perf_counter()
            memory, keys, mask, h, c = model.encode(src, src_len)
            feed = torch.zeros(1, model.H)
            y = torch.tensor([1])
            out = []
            for t in range(steps):
                o, feed, (h, c) = model.step(y, feed, (h, c), memory, keys, mask)
                logp = torch.log_softmax(model.out(o), -1)
                if t < steps - 1:
                    logp[:, 2] = -float("inf")  # <eos> barred until the last step, as in the C++ side
                y = logp.argmax(-1)
                out.append(int(y))
            if n >= 0:
                times.append(1e3 * (time.perf_counter() - start))
    print(f"pytorch greedy decode lstm-attn medium{' int8-dynamic' if a.int8 else ''} threads={a.threads} src_len={S} steps={steps} "
          f"{statistics.median(times):.3f} ms/sentence")


if __name__ == "__main__":
    main()
