#!/usr/bin/python3
"""Word against SentencePiece vocabularies, in the same wall time (docs/RESULTS.md, "Subwords").

Trains each configuration below on the shipped Tatoeba split for --minutes of wall time with
`translate train` (docs/RESULTS.md's options, both cores), evaluates it on the 2,380 test
sentences with `translate eval` (greedy) and prints one table. Runs one after another, never two
at once: the point is what each vocabulary buys in the same CPU time.

    /usr/bin/python3 bench/subwords.py [--minutes 10] [--only transformer|rnn] [--out runs/subwords]

Data: ../shared/data/tatoeba-spa-eng/spa.txt (www.manythings.org/anki and tatoeba.org, CC-BY 2.0).
"""
import argparse
import os
import re
import sys
import time

from run import ROOT, run

TRANSLATE = os.path.join(ROOT, "build", "bin", "translate")
DATA = os.path.join(ROOT, "..", "shared", "data", "tatoeba-spa-eng", "spa.txt")

COMMON = ["--data", DATA, "--src-col", "2", "--tgt-col", "1", "--split-mod", "50", "--lowercase", "--min-freq", "2",
          "--batch-size", "64", "--clip", "1", "--epochs", "100", "--dropout", "0.1"]
ARCH = {
    "transformer": ["--arch", "transformer", "--d-model", "256", "--heads", "4", "--enc-layers", "3", "--dec-layers", "3",
                    "--ff", "1024", "--label-smoothing", "0.1", "--lr", "1e-3", "--warmup", "800"],
    "rnn": ["--embed", "256", "--hidden", "512", "--attention", "additive", "--lr", "2e-3"],
}
# (name, tokenizer options)
VOCABULARIES = {
    "transformer": [("word", []),
                    ("bpe 8k per side", ["--tokenizer", "sentencepiece", "--sp-model", "bpe", "--sp-vocab", "8000"]),
                    ("unigram 8k per side", ["--tokenizer", "sentencepiece", "--sp-model", "unigram", "--sp-vocab", "8000"]),
                    ("bpe 16k joint", ["--tokenizer", "sentencepiece", "--sp-model", "bpe", "--sp-vocab", "16000",
                                       "--sp-joint"])],
    "rnn": [("word", []),
            ("bpe 8k per side", ["--tokenizer", "sentencepiece", "--sp-model", "bpe", "--sp-vocab", "8000"])],
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--only", choices=list(ARCH))
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "subwords"))
    a = p.parse_args()
    if not os.path.exists(DATA):
        sys.exit(f"no corpus at {DATA}: download spa-eng.zip from www.manythings.org/anki and unpack spa.txt there")
    rows = []
    for arch in [a.only] if a.only else list(ARCH):
        for name, tok in VOCABULARIES[arch]:
            out_dir = os.path.join(a.out, f"{arch}-{name.replace(' ', '-')}")
            start = time.time()
            train = run([TRANSLATE, "train", "--out", out_dir, "--overwrite", "--time-budget", str(a.minutes)] + COMMON +
                        ARCH[arch] + tok)
            minutes = (time.time() - start) / 60
            vocab = re.search(r"vocabulary: (\d+) source, (\d+) target", train)
            steps = re.findall(r"step (\d+)", train)
            ev = run([TRANSLATE, "eval", "--model", out_dir, "--samples", "0"])
            bleu = float(re.search(r"lowercased: BLEU = ([0-9.]+)", ev).group(1))
            ppl = re.search(r"perplexity ([0-9.]+)", ev).group(1)
            rows.append((arch, name, f"{vocab.group(1)} / {vocab.group(2)}", steps[-1] if steps else "?", f"{minutes:.1f}",
                         bleu))
            print(f"{arch:<12} {name:<22} vocab {rows[-1][2]:<14} steps {rows[-1][3]:>6}  {minutes:.1f} min  "
                  f"test ppl {ppl} (per own token)  BLEU {bleu:.2f}", flush=True)

    print(f"\n{a.minutes:g} minutes of training each on 2 cores; lowercased test BLEU, greedy, 2,380 sentences "
          "(www.manythings.org/anki and tatoeba.org)\n")
    print("| arch | vocabulary | tokens (src / tgt) | steps | wall minutes | test BLEU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.2f} |")


if __name__ == "__main__":
    main()
