#!/usr/bin/env bash
# Installs whatever tapegrad needs that this Debian machine lacks (apt-get; through sudo when not root).
# Usage: scripts/install-deps.sh [--with-data] [--with-fuzz] [--with-bench]
#   --with-data   also what the data helpers need;  --with-fuzz   also clang and its libFuzzer runtime (fuzz.sh)
#   --with-bench  also PyTorch for the benchmark's comparison (scripts/bench.sh): libtorch-dev (C++),
#                 python3-torch (Python, for /usr/bin/python3), libopenblas-dev (the BLAS torch's products run on)
#   TAPEGRAD_GEMM=openblas|blis|onednn   also installs that BLAS, for a build with -DTAPEGRAD_GEMM=<the same>; the default
#                                 build (Eigen's own products) needs none
set -euo pipefail

packages=(build-essential cmake pkg-config libeigen3-dev libfmt-dev libspdlog-dev catch2 libcli11-dev
          nlohmann-json3-dev zlib1g-dev libcairo2-dev fonts-dejavu-core python3-numpy
          dataset-fashion-mnist parallel)  # parallel: GNU parallel, for scripts/shard-parallel.sh and its test
for argument in "$@"; do
  case "$argument" in
    --with-data) packages+=(python3 python3-pil dataset-fashion-mnist) ;;
    --with-fuzz) packages+=(clang libclang-rt-14-dev) ;;
    --with-bench) packages+=(libtorch-dev python3-torch libopenblas-dev python3-pil) ;;
    *) echo "install-deps: unknown argument '$argument' (allowed: --with-data, --with-fuzz, --with-bench)" >&2
       exit 2 ;;
  esac
done
case "${TAPEGRAD_GEMM:-eigen}" in
  eigen) ;;
  openblas) packages+=(libopenblas-dev) ;;
  blis) packages+=(libblis-dev) ;;
  onednn) packages+=(libdnnl-dev) ;;
  *) echo "install-deps: TAPEGRAD_GEMM must be eigen, openblas, blis or onednn, not '${TAPEGRAD_GEMM}'" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: everything tapegrad needs is installed"
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
