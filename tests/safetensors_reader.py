#!/usr/bin/env python3
"""Reads a safetensors file with the Python standard library only, to prove glassgrad's
files follow the format: prints one line per tensor, "name dtype shape sum".

    python3 tests/safetensors_reader.py model.safetensors
"""
import json
import struct
import sys

FORMATS = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8), "BOOL": ("?", 1)}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        code, size = FORMATS[info["dtype"]]
        begin, end = info["data_offsets"]
        count = 1
        for s in info["shape"]:
            count *= s
        assert end - begin == count * size, f"{name}: {end - begin} bytes for {count} elements"
        out[name] = (info["dtype"], info["shape"], struct.unpack(f"<{count}{code}", data[begin:end]))
    return header.get("__metadata__", {}), out


if __name__ == "__main__":
    metadata, tensors = read(sys.argv[1])
    for key, value in sorted(metadata.items()):
        print(f"metadata {key}={value}")
    for name, (dtype, shape, values) in tensors.items():
        print(f"{name} {dtype} {shape} {sum(float(v) for v in values):.6f}")
