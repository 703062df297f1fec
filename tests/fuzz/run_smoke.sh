#!/usr/bin/env bash
# Replays every seed input in tests/fuzz/corpus/<target>/ through build-dir/fuzz_<target> once,
# without fuzzing: a few seconds in all, so CI can check that the targets build and that no
# seed crashes (each seed that once found a bug stays in the corpus as a regression test).
#   tests/fuzz/run_smoke.sh BUILD_DIR     (BUILD_DIR: a build of tests/fuzz, e.g. build-fuzz)
set -euo pipefail
build="${1:?usage: run_smoke.sh BUILD_DIR (a configured and built tests/fuzz project)}"
corpus="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/corpus"

status=0
ran=0
for dir in "$corpus"/*/; do
  target="$(basename "$dir")"
  bin="$build/fuzz_$target"
  if [ ! -x "$bin" ]; then
    echo "fuzz smoke: $bin is missing (build the tests/fuzz project first)" >&2
    status=1
    continue
  fi
  # Inputs given as files are each run once; -runs=1 would start fuzzing instead.
  if "$bin" -artifact_prefix="$build/smoke-$target-" "$dir"* >"$build/smoke_$target.log" 2>&1; then
    echo "fuzz smoke: $target ok ($(find "$dir" -type f | wc -l) inputs)"
  else
    echo "fuzz smoke: $target FAILED; see $build/smoke_$target.log" >&2
    tail -n 30 "$build/smoke_$target.log" >&2
    status=1
  fi
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "fuzz smoke: no corpora under $corpus" >&2; exit 1; }
exit "$status"
