#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, AddressSanitizer, UBSan) into build-fuzz/
# and fuzzes each for a while.
#   scripts/fuzz.sh                          every target, 60 s each
#   scripts/fuzz.sh --seconds 600 utf8 tsv   those targets, 10 minutes each
#   scripts/fuzz.sh --smoke                  the seeds once, then every target 10 s (CI); skips
#                                            when clang is absent
#   scripts/fuzz.sh --keep-going ...         record each crash and go on (libFuzzer's fork mode),
#                                            to look past a known bug that is not fixed yet
# Environment: GG_FUZZ_JOBS (build jobs, default: all cores).
#
# The corpus grows in build-fuzz/corpus/<target>/ (the seeds in tests/fuzz/corpus/ are read,
# never written), so a second run continues where the first stopped. A crash, a sanitizer
# report, a leak or a timeout leaves its input in build-fuzz/artifacts/<target>/; replay it
# with build-fuzz/fuzz_<target> FILE.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"


seconds=60
smoke=false
keep_going=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --smoke) smoke=true; seconds=10; shift ;;
    --keep-going) keep_going=true; shift ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

cxx="$(command -v clang++-14 || command -v clang++ || true)"
if $smoke; then
  if [ -z "$cxx" ] || [ -z "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; then
    echo "fuzz smoke: skipped (clang with libFuzzer is not installed: ${GG_FUZZ_PACKAGES[*]})"
    exit 0
  fi
  gg_install_missing "${GG_FUZZ_PACKAGES[@]}"  # clang is here; its OpenMP runtime may not be
else
  gg_install_missing "${GG_PACKAGES[@]}" "${GG_FUZZ_PACKAGES[@]}"
  cxx="$(command -v clang++-14 || command -v clang++)"
fi

build="$GG_ROOT/build-fuzz"
gg_log "configuring tests/fuzz in ${build} with ${cxx}"
mkdir -p "$build"
CXX="$cxx" cmake -S "$GG_ROOT/tests/fuzz" -B "$build" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 1; }
gg_log "building (${GG_FUZZ_JOBS:-$(nproc)} jobs)"
cmake --build "$build" -j "${GG_FUZZ_JOBS:-$(nproc)}"

if [ ${#targets[@]} -eq 0 ]; then
  for dir in "$GG_ROOT"/tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

# Longest input libFuzzer tries, per target: room for a few lines or a small header, short
# enough that every execution stays fast.
max_len() {
  case "$1" in
    safetensors | translator_config) echo 4096 ;;
    utf8 | tokenizer | sentencepiece) echo 1024 ;;
    *) echo 2048 ;;
  esac
}

# Single-threaded kernels: the parsers never need a thread team.
export OMP_NUM_THREADS=1
if $smoke; then
  gg_log "replaying the seed corpora"
  bash "$GG_ROOT/tests/fuzz/run_smoke.sh" "$build"
fi
crashed=()
for target in "${targets[@]}"; do
  bin="$build/fuzz_$target"
  [ -x "$bin" ] || { echo "error: no fuzz target '$target' ($bin)" >&2; exit 2; }
  corpus="$build/corpus/$target" artifacts="$build/artifacts/$target" log="$build/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  gg_log "fuzzing $target for ${seconds} s"
  before=$(find "$artifacts" -type f | wc -l)
  dict="$GG_ROOT/tests/fuzz/dict/$target.dict" options=()
  [ -f "$dict" ] && options+=(-dict="$dict")
  $keep_going && options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  rc=0
  "$bin" "$corpus" "$GG_ROOT/tests/fuzz/corpus/$target" -max_total_time="$seconds" -max_len="$(max_len "$target")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "${options[@]}" \
    >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  # Fork mode prints no final stats; its progress lines start with "#<executions>:".
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -n 1)
  if [ "$rc" -ne 0 ] || [ "$(find "$artifacts" -type f | wc -l)" -gt "$before" ]; then
    crashed+=("$target")
    printf '%-20s %10s executions  FOUND A BUG (exit %s): %s\n' "$target" "${runs:-?}" "$rc" \
      "$(ls -t "$artifacts" | head -n 1 | sed "s|^|$artifacts/|")"
    grep -m 3 -E "^==[0-9]+==ERROR|runtime error|fuzz property violated|uncaught exception|terminate called" "$log" |
      sed 's/^/    /' || true
  else
    printf '%-20s %10s executions  no crash in %s s\n' "$target" "${runs:-?}" "$seconds"
  fi
done

if [ ${#crashed[@]} -gt 0 ]; then
  echo "bugs found in: ${crashed[*]} (inputs under $build/artifacts/, logs under $build/logs/)" >&2
  exit 1
fi
