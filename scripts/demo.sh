#!/usr/bin/env bash
# Builds glassgrad in Release and runs the main demo: a translator with attention learns to
# normalize dates written many ways ("Friday, 7 Apr 2023" -> 2023-04-07), from data it
# generates itself, in at most 3 minutes; then it shows test results and where it looks.
# Arguments go to `translate demo` (try --task reorder, --minutes 5, --help).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

gg_install_missing "${GG_PACKAGES[@]}"
mkdir -p "$GG_ROOT/build"
gg_build "$GG_ROOT/build"
gg_log "running build/bin/translate demo $*"
cd "$GG_ROOT"
"$GG_ROOT/build/bin/translate" demo "$@"
