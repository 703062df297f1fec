#!/usr/bin/env bash
# Builds glassgrad in Release and runs the main demo: a small network trained from
# scratch, printing its loss as it falls.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

gg_install_missing "${GG_PACKAGES[@]}"
mkdir -p "$GG_ROOT/build"
gg_build "$GG_ROOT/build"
gg_log "running build/bin/spiral"
"$GG_ROOT/build/bin/spiral" "$@"
