#!/usr/bin/env bash
# Installs the built tapegrad into a temporary prefix, then, as a user would:
#  - configures, builds and runs tests/package (CMake, find_package) with README.md's marked examples in it;
#  - compiles consumer.cpp with pkg-config alone and with the umbrella header <tapegrad/tapegrad.h>.
set -euo pipefail
build="$1"
source_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$source_dir/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"

# Only public headers are installed.
for private in core/kernels/levels/gemm_level.h ops/numerics.h ops/broadcast.h nn/data/byte_source.h; do
  if [[ -e "$work/prefix/include/tapegrad/$private" ]]; then
    echo "run.sh: the internal header $private was installed" >&2
    exit 1
  fi
done

# A TAPEGRAD_SANITIZE build installs instrumented static libraries: the consumer must link the sanitizer runtimes.
flags=()
sanitize=""
if grep -q '^TAPEGRAD_SANITIZE:BOOL=ON$' "$build/CMakeCache.txt"; then
  sanitize="-fsanitize=address,undefined"
  flags=("-DCMAKE_CXX_FLAGS=$sanitize" "-DCMAKE_EXE_LINKER_FLAGS=$sanitize")
fi
mkdir -p "$work/examples"
python3 "$source_dir/extract_examples.py" "$root/README.md" "$work/examples"
cmake -S "$source_dir" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DEXAMPLES_DIR="$work/examples" "${flags[@]}"
cmake --build "$work/consumer" -j 2
"$work/consumer/consumer"
for example in "$work"/examples/*.cpp; do
  name="$(basename "$example" .cpp)"
  echo "run.sh: running the README example '$name'"
  (cd "$work" && "$work/consumer/$name")
done

# pkg-config and the umbrella header, without CMake.
cat > "$work/umbrella.cpp" <<'CPP'
#include <tapegrad/tapegrad.h>
int main() {
  tapegrad::Tensor<double> x = tapegrad::Tensor<double>::ones(3, 2, true);
  tapegrad::Tensor<double> y = tapegrad::sum(tapegrad::square(x));
  y.backward();
  return (y.item() == 6.0 && x.grad()(2, 1) == 2.0) ? 0 : 1;
}
CPP
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ $sanitize "$work/umbrella.cpp" -o "$work/umbrella" $(pkg-config --cflags --libs tapegrad)
"$work/umbrella"
echo "run.sh: the installed package works with CMake and with pkg-config"
