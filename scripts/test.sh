#!/usr/bin/env bash
# Builds glassgrad in Release and runs the whole test suite with CTest.
#   scripts/test.sh               all tests (labels: unit, gradcheck, parity, model, reliability)
#   scripts/test.sh --sanitize    unit, gradcheck and reliability tests (these run build/bin/translate:
#                                 killed, interrupted, resumed, fed bad input) under AddressSanitizer + UBSan
#   scripts/test.sh --gemm openblas   float32 products on OpenBLAS instead of oneDNN (own build dir)
# Extra arguments after the options go to ctest, e.g. scripts/test.sh -L gradcheck
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build="$GG_ROOT/build"
cmake_args=()
ctest_args=()
if [ "${1:-}" = "--sanitize" ]; then
  shift
  build="$GG_ROOT/build-sanitize"
  cmake_args=(-DGG_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGG_BUILD_BENCH=OFF)
  ctest_args=(-L 'unit|gradcheck|reliability')
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
if [ "${1:-}" = "--gemm" ]; then
  [ -n "${2:-}" ] || { echo "error: --gemm needs a value: onednn or openblas" >&2; exit 2; }
  cmake_args+=(-DGG_GEMM="$2")
  [ "$2" = onednn ] || build="$build-$2"
  shift 2
fi

gg_install_missing "${GG_PACKAGES[@]}"
mkdir -p "$build"
gg_build "$build" "${cmake_args[@]}"
gg_log "running tests"
cd "$build"
# ctest runs tests in parallel on every core, so each test gets one OpenMP thread and
# threads that wait sleep instead of spinning: two spinning teams on two cores slow each
# other down many times over. The multi-threaded kernels are tested by tests that call
# gg::set_num_threads(2) themselves.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --output-on-failure -j "$(nproc)" "${ctest_args[@]}" "$@"
