#!/usr/bin/env bash
# Installs the built tapegrad into a temporary prefix, then configures, builds and runs tests/package against it.
set -euo pipefail
build="$1"
source_dir="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
# A TAPEGRAD_SANITIZE build installs instrumented static libraries: the consumer must link the sanitizer runtimes.
flags=()
if grep -q '^TAPEGRAD_SANITIZE:BOOL=ON$' "$build/CMakeCache.txt"; then
  flags=("-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
fi
cmake -S "$source_dir" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release "${flags[@]}"
cmake --build "$work/consumer"
"$work/consumer/consumer"
