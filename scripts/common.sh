# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, then configure
# and build. Source it; do not run it.
set -euo pipefail

GG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian 12 packages glassgrad builds with (see README, "Dependencies").
GG_PACKAGES=(g++ cmake make libopenblas-openmp-dev libdnnl-dev libfmt-dev catch2 nlohmann-json3-dev libcli11-dev pkg-config libsentencepiece-dev libstb-dev libssl-dev libopenmpi-dev openmpi-bin)

# Debian 12 packages scripts/fuzz.sh needs on top: clang, libFuzzer, clang's OpenMP runtime.
GG_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev libomp-14-dev)

gg_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the packages that are not installed yet: apt-get as root, sudo otherwise.
gg_install_missing() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  gg_log "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# gg_build BUILD_DIR [cmake options...]: configure (Release unless told otherwise) and build.
gg_build() {
  local dir="$1"
  shift
  gg_log "configuring in ${dir}"
  mkdir -p "$dir"
  cmake -S "$GG_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log" >&2; exit 1; }
  gg_log "building ($(nproc) jobs)"
  cmake --build "$dir" -j "$(nproc)"
}
