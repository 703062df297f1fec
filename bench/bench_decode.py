#!/usr/bin/python3
"""PyTorch twin of build/bin/bench_decode: greedy decoding of a medium model, sources of 20
tokens, exactly 25 decode steps, under torch.no_grad(); --batch B sentences per call.

--model lstm-attn steps the LSTM decoder one token at a time. --model transformer decodes with
torch.nn.TransformerDecoder as its users do: it has no key/value cache, so every step runs the
decoder over the whole prefix (causal mask), and the last position gives the next token.

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

EOS = 2


def greedy_lstm(model, src, src_len, steps):
    memory, keys, mask, h, c = model.encode(src, src_len)
    feed = torch.zeros(src.shape[0], model.H)
    y = torch.ones(src.shape[0], dtype=torch.long)
    for t in range(steps):
        o, feed, (h, c) = model.step(y, feed, (h, c), memory, keys, mask)
        logp = torch.log_softmax(model.out(o), -1)
        if t < steps - 1:
            logp[:, EOS] = -float("inf")  # <eos> barred until the last step, as in the C++ side
        y = logp.argmax(-1)


def greedy_transformer(model, src, src_len, steps):
    S = src.shape[1]
    src_pad = torch.arange(S)[None, :] >= src_len[:, None]
    memory = model.encoder(model.embed(model.src_embed, src), src_key_padding_mask=src_pad)
    prefix = torch.ones(src.shape[0], 1, dtype=torch.long)
    for t in range(steps):
        T = prefix.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        y = model.decoder(model.embed(model.tgt_embed, prefix), memory, tgt_mask=causal,
                          memory_key_padding_mask=src_pad)
        logp = torch.log_softmax(model.out(y[:, -1]), -1)
        if t < steps - 1:
            logp[:, EOS] = -float("inf")
        prefix = torch.cat([prefix, logp.argmax(-1)[:, None]], 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lstm-attn", choices=["lstm-attn", "transformer"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--sentences", type=int, default=20)
    p.add_argument("--int8", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    s = workloads.SIZES["medium"]
    model = workloads.make_model(a.model, "medium").eval()
    if a.int8:
        model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    greedy = greedy_lstm if a.model == "lstm-attn" else greedy_transformer
    S, steps = 20, 25
    times = []
    with torch.no_grad():
        for n in range(-2, a.sentences):
            rng = workloads.Lcg(n + 100)
            src = torch.tensor([rng.uniform(3, s["V"]) for _ in range(a.batch * S)]).reshape(a.batch, S)
            src_len = torch.full((a.batch,), S)
            start = time.perf_counter()
            greedy(model, src, src_len, steps)
            if n >= 0:
                times.append(1e3 * (time.perf_counter() - start))
    per_call = statistics.median(times)
    print(f"pytorch greedy decode {a.model} medium{' int8-dynamic' if a.int8 else ''} batch={a.batch} "
          f"threads={a.threads} src_len={S} steps={steps} {per_call / a.batch:.3f} ms/sentence "
          f"{1e3 * a.batch / per_call:.1f} sentences/s")


if __name__ == "__main__":
    main()
