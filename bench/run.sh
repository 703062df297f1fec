#!/usr/bin/env bash
# Builds glassgrad (Release) and runs every benchmark beside its PyTorch twin, printing one
# table. Needs Debian's python3-torch for the PyTorch side (installed here if missing).
#   bash bench/run.sh [--repeats N] [--sizes small,medium]
#   bash bench/run.sh --dist [--repeats N]     data-parallel training over MPI against PyTorch DDP (bench/dist.py)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
gg_install_missing "${GG_PACKAGES[@]}" python3-torch
mkdir -p "$GG_ROOT/build"
gg_build "$GG_ROOT/build"
if [ "${1:-}" = "--dist" ]; then
  shift
  exec /usr/bin/python3 "$GG_ROOT/bench/dist.py" "$@"
fi
/usr/bin/python3 "$GG_ROOT/bench/run.py" "$@"
