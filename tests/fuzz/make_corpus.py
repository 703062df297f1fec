#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/: small valid inputs and a few
nearly-valid ones per target. Run it again after changing an input format; libFuzzer grows
its own corpus from these in a scratch copy (scripts/fuzz.sh), never here.

Inputs that begin with an options byte (see each fuzz_<target>.cpp) get it as opt(...)."""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, "corpus", target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(HERE, "corpus", target, name), "wb") as f:
        f.write(data)


def opt(bits, text):
    return bytes([bits]) + (text.encode("utf-8") if isinstance(text, str) else text)


def safetensors(tensors, metadata=None, pad=True):
    """tensors: [(name, dtype, shape, raw bytes)] -> the file's bytes, as core/safetensors.cpp writes it."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


# ---- safetensors --------------------------------------------------------------------------------
f32 = struct.pack("<6f", 1, -2, 0.5, 3e38, -0.0, 1e-40)
i64 = struct.pack("<3q", 0, -1, 2**63 - 1)
write("safetensors", "valid_f32", safetensors([("w", "F32", [2, 3], f32)]))
write("safetensors", "valid_mixed", safetensors(
    [("a.weight", "F32", [2, 3], f32), ("ids", "I64", [3], i64), ("mask", "BOOL", [2, 2], b"\x01\x00\x00\x01"),
     ("scalar", "F64", [], struct.pack("<d", 3.25))],
    {"format": "pt", "framework": "glassgrad"}))
# The found-* files beside these are inputs the fuzzers found bugs with, kept as they were found
# (not regenerated here): each replays in run_smoke.sh and in the unit tests.
write("safetensors", "truncated", safetensors([("w", "F32", [2, 3], f32)])[:-5])
write("safetensors", "header_too_long", b"\xff" * 8 + b"{}")
write("safetensors", "bad_dtype", safetensors([("h", "F16", [2], b"\x00\x3c\x00\x3c")]))
write("safetensors", "overlap", struct.pack("<Q", 88) + json.dumps(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, separators=(",", ":")).encode().ljust(88)
    + b"\x00" * 8)

# ---- translator config (what Translator::save writes, and variants) ----------------------------
config = {
    "architecture": "rnn",
    "rnn": {"embed": 32, "hidden": 64, "layers": 1, "bidirectional": True, "cell": "lstm",
            "attention": "additive", "input_feeding": True, "attentional_output": True, "dropout": 0.1,
            "tie_embeddings": False},
    "transformer": {"d_model": 64, "heads": 4, "encoder_layers": 2, "decoder_layers": 2, "dim_feedforward": 128,
                    "dropout": 0.1, "norm_first": False, "max_len": 128, "tie_embeddings": False},
    "tokenizer": "char", "lowercase": False,
    "extra": {"task": "dates", "split": {"modulus": 50}}, "src_vocab_size": 60, "tgt_vocab_size": 16}
write("translator_config", "valid_rnn", json.dumps(config, indent=2))
transformer = json.loads(json.dumps(config))
transformer.update(architecture="transformer", tokenizer="word", lowercase=True)
transformer["rnn"]["cell"] = "gru"
transformer["rnn"]["attention"] = "scaled-dot"
write("translator_config", "valid_transformer", json.dumps(transformer))
bad = json.loads(json.dumps(config))
bad["rnn"]["cell"] = "lstm2"
write("translator_config", "unknown_cell", json.dumps(bad))
bad = json.loads(json.dumps(config))
del bad["transformer"]["heads"]
write("translator_config", "missing_field", json.dumps(bad))
bad = json.loads(json.dumps(config))
bad["rnn"]["hidden"] = "64"
write("translator_config", "string_number", json.dumps(bad))
write("translator_config", "not_json", '{"architecture": "rnn", ')

# ---- vocab --------------------------------------------------------------------------------------
specials = "<pad>\n<bos>\n<eos>\n<unk>\n"
write("vocab", "valid", specials + "el\nperro\n¿\ndónde\n.\n")
write("vocab", "specials_only", specials)
write("vocab", "bom_crlf", "\ufeff" + specials.replace("\n", "\r\n") + "año\r\n")
write("vocab", "duplicate", specials + "casa\nperro\ncasa\n")
write("vocab", "empty_token", specials + "a\n\nb\n")
write("vocab", "missing_specials", "<pad>\n<bos>\nel\n")
write("vocab", "latin1", specials.encode() + b"a\xf1o\n")

# ---- TSV and line-aligned files -------------------------------------------------------------------
TSV_2_1 = 0b000100  # src_col 2, tgt_col 1, throw on bad lines, trim
TSV_SKIP = 0b000101  # the same, skipping bad lines
tatoeba = "Go.\tVe.\tCC-BY 2.0\nHi.\tHola.\tCC-BY 2.0\nWhere is the bathroom?\t¿Dónde está el baño?\tCC-BY\n"
write("tsv", "valid", opt(TSV_2_1, tatoeba))
write("tsv", "valid_crlf", opt(TSV_2_1, tatoeba.replace("\n", "\r\n")))
write("tsv", "bad_lines_skip", opt(TSV_SKIP, b"Go.\tVe.\nonly one column\n\t \n\xe9t\xe9\tsummer\nHi.\tHola.\n"))
write("tsv", "bad_lines_throw", opt(TSV_2_1, "Go.\tVe.\nonly one column\n"))
write("tsv", "cols_3_1_no_trim", opt(0b001010, " a \tb\t c \n"))

write("parallel", "valid", opt(0, "Guten Morgen.\nDanke!\n\0Good morning.\nThanks!\n"))
write("parallel", "unequal_skip", opt(1, "eins\nzwei\ndrei\n\0one\ntwo\n"))
write("parallel", "unequal_throw", opt(0, "eins\n\0one\ntwo\n"))
write("parallel", "bad_lines_skip", opt(1, b"ok\n \n\xc3\x28\nfine\n\0ok\nempty\nbad\nfine\n"))

# ---- UTF-8 -------------------------------------------------------------------------------------------
write("utf8", "ascii", "Hello, world!\n")
write("utf8", "multibyte", "¿Dónde está el baño? Ÿ İ Ωμέγα Привет — “quotes” 𝄞 €")
write("utf8", "spaces", " \t\u00a0a\u2028b\u3000 \u0085")
write("utf8", "overlong", b"a\xc0\xafb")
write("utf8", "surrogate", b"x\xed\xa0\x80y")
write("utf8", "truncated", b"ma\xc3")
write("utf8", "too_big", b"\xf4\x90\x80\x80")
write("utf8", "latin1", b"caf\xe9")

# ---- tokenizers ----------------------------------------------------------------------------------
write("tokenizer", "spanish", opt(0, "¿Dónde está el baño? «Sí», dijo él."))
write("tokenizer", "english_lower", opt(1, "Don't pay $300 for the U.S. well-known 3.14... at 10:30!"))
write("tokenizer", "quotes", opt(0, "My parents' house, \"she said\", 'ok' (20/20) ‘x’ “y” 1,000€"))
write("tokenizer", "greek_cyrillic", opt(1, "ΆΈΉ ΩΜΈΓΑ ЁЖИК Ÿİ"))
write("tokenizer", "invalid", opt(0, b"ok \xff bad"))

# ---- BLEU and chrF: lines alternate hypothesis, reference -------------------------------------------
pairs = ("The cat is on the mat.\nThe cat sat on the mat.\n"
         "It wasn't surprising.\nIt was not surprising.\n"
         "¿Dónde está el baño?\n¿Dónde está el baño?\n")
write("bleu", "default", opt(0, pairs))
write("bleu", "lowercase_floor_eff", opt(0b010101, pairs))
write("bleu", "tok_none_addk", opt(0b101010, pairs))
write("bleu", "two_refs", opt(0b01000000, "a b c d\na b c d\na b\nhello there\n\nhi\n"))
write("bleu", "entities", opt(0, "a &amp; b &lt;skipped&gt; 3-4 1,000.5\na & b 3 - 4\n"))
write("bleu", "empty_ref", opt(0, "hyp\n\n"))
write("chrf", "default", opt(0, pairs))
write("chrf", "chrf_plus_plus_lower", opt(0b000011, pairs))
write("chrf", "whitespace_eps", opt(0b001100, pairs))
write("chrf", "char_order_0_words", opt(0b110010, "a b\na c\n"))
write("chrf", "two_refs", opt(0b01000000, "Ωμέγα!\nωμέγα\nΩμέγα !\n"))
