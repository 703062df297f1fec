#!/usr/bin/env bash
# Train one model per attention kind for the same wall-clock budget and print a summary table.
#
#   bash scripts/compare_attention.sh dates   [MINUTES] [THREADS]   # the generated date task
#   bash scripts/compare_attention.sh tatoeba [MINUTES] [THREADS]   # ../shared/data/tatoeba-spa-eng/spa.txt
#
# Models go to runs/compare-TASK-KIND/, full logs to runs/compare-TASK-KIND.log.
# Expects a Release build in build/ (bash scripts/demo.sh or bash scripts/test.sh makes one);
# TRANSLATE=path runs another translate binary (a saved copy, so that rebuilding meanwhile
# does not change the program between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:?usage: compare_attention.sh dates|tatoeba [MINUTES] [THREADS]}
minutes=${2:-10}
export OMP_NUM_THREADS=${3:-2}
translate=${TRANSLATE:-build/bin/translate}
data=../shared/data/tatoeba-spa-eng/spa.txt
mkdir -p runs
for kind in none dot general additive concat; do
  out=runs/compare-$task-$kind
  log=$out.log
  rm -rf "$out"
  echo "== $task / $kind: $minutes minutes, $OMP_NUM_THREADS thread(s) -> $log"
  if [[ $task == dates ]]; then
    "$translate" demo --task dates --attention "$kind" --minutes "$minutes" --out "$out" > "$log" 2>&1
  else
    "$translate" train --data "$data" --src-col 2 --tgt-col 1 --split-mod 50 --lowercase --min-freq 2 \
      --attention "$kind" --embed 256 --hidden 512 --dropout 0.1 --batch-size 64 --lr 1e-3 --clip 1 \
      --epochs 100 --time-budget "$minutes" --valid-bleu 0 --out "$out" > "$log" 2>&1
    "$translate" eval --model "$out" >> "$log" 2>&1
  fi
  grep -E "exact match|^BLEU|lowercased:|stopped after|trained .* steps|perplexity" "$log" | sed 's/^/   /'
done
