#!/usr/bin/python3
"""Writes the PyTorch parity fixtures under tests/parity/fixtures/ (committed; CI does not
need PyTorch). Run with Debian's python3-torch:

    /usr/bin/python3 tests/parity/make_fixtures.py

Each fixture is a JSON object {name: {"shape": [...], "data": [...]}} of float64 values:
inputs, weights (under PyTorch's state_dict names), outputs and gradients. Gradients are of
the scalar sum(out * R) for a fixed random R saved as "R" (so every output element gets a
different upstream gradient). Everything runs in float64.
"""
import json
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)


def pack(tensors):
    return {k: {"shape": list(v.shape), "data": [float(x) for x in v.detach().reshape(-1).tolist()]}
            for k, v in tensors.items()}


def save(name, tensors):
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(pack(tensors), f, separators=(",", ":"))
    print(f"wrote {name}.json ({len(tensors)} tensors)")


def grads_of(module, inputs, outputs, projections):
    loss = sum((o * r).sum() for o, r in zip(outputs, projections))
    loss.backward()
    out = {f"grad.{k}": p.grad for k, p in module.named_parameters()} if module is not None else {}
    for k, x in inputs.items():
        if x.grad is not None:
            out[f"grad.{k}"] = x.grad
    return out


def linear():
    m = torch.nn.Linear(4, 5)
    x = torch.randn(2, 3, 4, requires_grad=True)
    y = m(x)
    R = torch.randn_like(y)
    save("linear", {"x": x, **dict(m.state_dict()), "y": y, "R": R, **grads_of(m, {"x": x}, [y], [R])})


def embedding():
    m = torch.nn.Embedding(10, 4, padding_idx=0)
    ids = torch.tensor([[1, 0, 3], [3, 9, 0]])
    y = m(ids)
    R = torch.randn_like(y)
    save("embedding", {"ids": ids.double(), **dict(m.state_dict()), "y": y, "R": R, **grads_of(m, {}, [y], [R])})


def layer_norm():
    m = torch.nn.LayerNorm([4])
    with torch.no_grad():
        m.weight.copy_(torch.randn(4))
        m.bias.copy_(torch.randn(4))
    x = torch.randn(2, 3, 4, requires_grad=True)
    y = m(x)
    R = torch.randn_like(y)
    save("layer_norm", {"x": x, **dict(m.state_dict()), "y": y, "R": R, **grads_of(m, {"x": x}, [y], [R])})


def recurrent(kind, **kw):
    T, B, I, H = 5, 3, 4, 3
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    m = cls(I, H, num_layers=2, bidirectional=True, **kw)
    x = torch.randn(T, B, I, requires_grad=True)
    lengths = torch.tensor([5, 3, 2])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, state = m(packed)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    outputs = {"y": y}
    if kind == "lstm":
        outputs["h_n"], outputs["c_n"] = state
    else:
        outputs["h_n"] = state
    projections = {f"R.{k}": torch.randn_like(v) for k, v in outputs.items()}
    grads = grads_of(m, {"x": x}, list(outputs.values()), list(projections.values()))
    name = kind + ("_relu" if kw.get("nonlinearity") == "relu" else "")
    save(name, {"x": x, "lengths": lengths.double(), **dict(m.state_dict()), **outputs, **projections, **grads})


def cross_entropy():
    logits = torch.randn(6, 5, requires_grad=True)
    target = torch.tensor([1, 0, -100, 4, 2, -100])
    tensors = {"logits": logits, "target": target.double()}
    for reduction in ["mean", "sum", "none"]:
        for smoothing in [0.0, 0.1]:
            logits.grad = None
            loss = F.cross_entropy(logits, target, ignore_index=-100, label_smoothing=smoothing, reduction=reduction)
            R = torch.randn_like(loss)
            (loss * R).sum().backward()
            key = f"{reduction}.{smoothing}"
            tensors[f"loss.{key}"] = loss
            tensors[f"R.{key}"] = R
            tensors[f"grad.logits.{key}"] = logits.grad.clone()
    save("cross_entropy", tensors)


def optimizers():
    """20 steps of each optimizer on the same least-squares problem; the weights after every step."""
    x = torch.randn(8, 4)
    y = torch.randn(8, 3)
    w0 = torch.randn(3, 4)
    tensors = {"x": x, "y": y, "w0": w0}
    configs = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.01),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=0.01),
        "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01),
        "adam_l2": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
        "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
        "rmsprop_momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5),
        "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01),
    }
    for name, make in configs.items():
        w = w0.clone().requires_grad_(True)
        opt = make([w])
        trajectory = []
        for _ in range(20):
            opt.zero_grad()
            loss = ((x @ w.t() - y) ** 2).mean()
            loss.backward()
            opt.step()
            trajectory.append(w.detach().clone())
        tensors[f"trajectory.{name}"] = torch.stack(trajectory)
    save("optimizers", tensors)


def multihead():
    # Cross-attention with other key/value widths and a key padding mask.
    m = torch.nn.MultiheadAttention(8, 2, kdim=5, vdim=6)
    q = torch.randn(3, 2, 8, requires_grad=True)
    k = torch.randn(4, 2, 5, requires_grad=True)
    v = torch.randn(4, 2, 6, requires_grad=True)
    kpm = torch.tensor([[False, False, False, True], [False, False, True, True]])
    out, weights = m(q, k, v, key_padding_mask=kpm)
    R, R_w = torch.randn_like(out), torch.randn_like(weights)
    grads = grads_of(m, {"q": q, "k": k, "v": v}, [out, weights], [R, R_w])
    save("mha_cross", {"q": q, "k": k, "v": v, "key_padding_mask": kpm.double(), **dict(m.state_dict()),
                       "out": out, "weights": weights, "R": R, "R_w": R_w, **grads})
    # Self-attention with a causal mask, per-head weights.
    m = torch.nn.MultiheadAttention(8, 2)
    x = torch.randn(4, 2, 8, requires_grad=True)
    causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    out, weights = m(x, x, x, attn_mask=causal, average_attn_weights=False)
    R, R_w = torch.randn_like(out), torch.randn_like(weights)
    grads = grads_of(m, {"x": x}, [out, weights], [R, R_w])
    save("mha_self", {"x": x, **dict(m.state_dict()), "out": out, "weights": weights, "R": R, "R_w": R_w, **grads})


def transformer_layers():
    for norm_first in [False, True]:
        suffix = "_norm_first" if norm_first else ""
        m = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first)
        src = torch.randn(5, 2, 8, requires_grad=True)
        kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
        out = m(src, src_key_padding_mask=kpm)
        R = torch.randn_like(out)
        grads = grads_of(m, {"src": src}, [out], [R])
        save("encoder_layer" + suffix, {"src": src, "src_key_padding_mask": kpm.double(), **dict(m.state_dict()),
                                        "out": out, "R": R, **grads})

        m = torch.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first)
        tgt = torch.randn(4, 2, 8, requires_grad=True)
        memory = torch.randn(5, 2, 8, requires_grad=True)
        causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
        mkpm = torch.tensor([[False] * 5, [False, False, True, True, True]])
        out = m(tgt, memory, tgt_mask=causal, memory_key_padding_mask=mkpm)
        R = torch.randn_like(out)
        grads = grads_of(m, {"tgt": tgt, "memory": memory}, [out], [R])
        save("decoder_layer" + suffix, {"tgt": tgt, "memory": memory, "memory_key_padding_mask": mkpm.double(),
                                        **dict(m.state_dict()), "out": out, "R": R, **grads})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    linear()
    embedding()
    layer_norm()
    recurrent("rnn")
    recurrent("rnn", nonlinearity="relu")
    recurrent("gru")
    recurrent("lstm")
    cross_entropy()
    optimizers()
    multihead()
    transformer_layers()
