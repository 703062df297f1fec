"""PyTorch twins of bench/workloads.h: the same model architectures, sizes and synthetic
batches (the same 64-bit LCG), so the two frameworks do exactly the same work."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    "small": dict(V=1000, E=64, H=128, B=32, L=16, D=64, heads=4, layers=2, FF=256),
    "medium": dict(V=8000, E=256, H=512, B=64, L=24, D=256, heads=8, layers=3, FF=512),
}

MASK64 = (1 << 64) - 1


class Lcg:
    def __init__(self, seed):
        self.x = seed

    def next(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & MASK64
        return self.x >> 33

    def uniform(self, low, high):
        return low + self.next() % (high - low)


def make_batch(V, B, L, index):
    rng = Lcg(1000 + index)
    src = torch.zeros(B, L, dtype=torch.long)
    tin = torch.zeros(B, L, dtype=torch.long)
    tout = torch.zeros(B, L, dtype=torch.long)
    src_len = torch.zeros(B, dtype=torch.long)
    tokens = 0
    for b in range(B):
        s, t = rng.uniform(L // 2, L + 1), rng.uniform(L // 2, L + 1)
        src_len[b] = s
        for i in range(s):
            src[b, i] = rng.uniform(3, V)
        tin[b, 0] = 1
        for i in range(t):
            tout[b, i] = rng.uniform(3, V)
            if i + 1 < t:
                tin[b, i + 1] = tout[b, i]
        tokens += t
    return src, src_len, tin, tout, tokens


class LstmAttention(nn.Module):
    """Bidirectional LSTM encoder (H/2 per direction), LSTMCell decoder fed [y_emb; previous
    context], additive attention v^T tanh(W_k enc + W_q h) with a source padding mask, output
    layer on [h; context]; the encoder's final states start the decoder."""

    def __init__(self, V, E, H):
        super().__init__()
        self.H = H
        self.src_embed = nn.Embedding(V, E, padding_idx=0)
        self.tgt_embed = nn.Embedding(V, E, padding_idx=0)
        self.encoder = nn.LSTM(E, H // 2, bidirectional=True, batch_first=True)
        self.cell = nn.LSTMCell(E + H, H)
        self.W_k = nn.Linear(H, H, bias=False)
        self.W_q = nn.Linear(H, H, bias=False)
        self.v = nn.Parameter(torch.empty(H).uniform_(-1 / math.sqrt(H), 1 / math.sqrt(H)))
        self.out = nn.Linear(2 * H, V)

    def encode(self, src, src_len):
        B, S = src.shape
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), src_len, batch_first=True,
                                                   enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=S)
        h = torch.cat([h[0], h[1]], 1)
        c = torch.cat([c[0], c[1]], 1)
        mask = torch.arange(S)[None, :] >= src_len[:, None]
        return memory, self.W_k(memory), mask, h, c

    def step(self, y, feed, state, memory, keys, mask):
        h, c = self.cell(torch.cat([self.tgt_embed(y), feed], 1), state)
        e = torch.tanh(keys + self.W_q(h)[:, None, :]) @ self.v  # [B, S]
        a = torch.softmax(e.masked_fill(mask, -1e9), -1).masked_fill(mask, 0.0)
        context = torch.bmm(a[:, None, :], memory)[:, 0]
        return torch.cat([h, context], 1), context, (h, c)

    def forward(self, src, src_len, tgt_in):
        memory, keys, mask, h, c = self.encode(src, src_len)
        feed = torch.zeros(src.shape[0], self.H)
        outputs = []
        for t in range(tgt_in.shape[1]):
            o, feed, (h, c) = self.step(tgt_in[:, t], feed, (h, c), memory, keys, mask)
            outputs.append(o)
        return self.out(torch.stack(outputs, 1))


class Transformer(nn.Module):
    """Post-norm Transformer, ReLU feed-forward, dropout 0, sinusoidal positions, padding masks
    on both sides, causal target mask."""

    def __init__(self, V, D, heads, layers, FF, max_len=512):
        super().__init__()
        self.D = D
        self.src_embed = nn.Embedding(V, D, padding_idx=0)
        self.tgt_embed = nn.Embedding(V, D, padding_idx=0)
        pos = torch.arange(max_len)[:, None].double()
        i = torch.arange(D)[None, :]
        angle = pos / torch.pow(10000.0, (2 * (i // 2)).double() / D)
        self.register_buffer("pe", torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float())
        enc = nn.TransformerEncoderLayer(D, heads, FF, dropout=0.0, batch_first=True)
        dec = nn.TransformerDecoderLayer(D, heads, FF, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, layers, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, layers)
        self.out = nn.Linear(D, V)

    def embed(self, table, ids):
        return table(ids) * math.sqrt(self.D) + self.pe[: ids.shape[1]]

    def forward(self, src, src_len, tgt_in):
        S, T = src.shape[1], tgt_in.shape[1]
        src_pad = torch.arange(S)[None, :] >= src_len[:, None]
        memory = self.encoder(self.embed(self.src_embed, src), src_key_padding_mask=src_pad)
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        y = self.decoder(self.embed(self.tgt_embed, tgt_in), memory, tgt_mask=causal,
                         tgt_key_padding_mask=tgt_in == 0, memory_key_padding_mask=src_pad)
        return self.out(y)


def make_model(name, size):
    s = SIZES[size]
    if name == "lstm-attn":
        return LstmAttention(s["V"], s["E"], s["H"])
    if name == "transformer":
        return Transformer(s["V"], s["D"], s["heads"], s["layers"], s["FF"])
    raise SystemExit(f"unknown model {name}")
