#!/usr/bin/env bash
# Installs the built tapegrad into a temporary prefix, then configures, builds and runs tests/package against it.
set -euo pipefail
build="$1"
source_dir="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source_dir" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/consumer"
"$work/consumer/consumer"
