#!/usr/bin/env bash
# Puts CIFAR-10 in its official binary layout into data/cifar-10-batches-bin (or the directory given).
#   1. nothing to do when data_batch_1.bin .. test_batch.bin are already there;
#   2. the project's shared pack (../shared/bin/cifar10-from-pack, JPEG re-encodings of CIFAR-10) when present;
#   3. otherwise the official release, checked against its published MD5 before it is unpacked.
# Exits non-zero with a message when none of these works (for example without network access).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-$root/data/cifar-10-batches-bin}"
url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
md5="c32a1d4ab5d03f1284b67883e8d87530"

complete() {
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
    [[ -f "$1/$f" && $(stat -c %s "$1/$f") -eq 30730000 ]] || return 1
  done
}

if complete "$target"; then
  echo "get-cifar10: CIFAR-10 is already in $target"
  exit 0
fi

pack="$root/../shared/bin/cifar10-from-pack"
if [[ -x "$pack" ]]; then
  echo "get-cifar10: writing CIFAR-10 from the shared pack into $target"
  if "$pack" "$target" && complete "$target"; then exit 0; fi
  echo "get-cifar10: the shared pack did not give a complete CIFAR-10 (needs python3-pil); trying the download" >&2
fi

download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT
echo "get-cifar10: downloading $url"
if command -v curl >/dev/null; then
  fetch=(curl -fL --retry 2 -o "$download/cifar.tar.gz" "$url")
else
  fetch=(wget -O "$download/cifar.tar.gz" "$url")
fi
if ! "${fetch[@]}"; then
  echo "get-cifar10: could not download CIFAR-10 (no network?). Copy cifar-10-binary.tar.gz's batches into $target," \
       "or set CIFAR10_DIR; the apps fall back to Fashion-MNIST (apt-get install dataset-fashion-mnist)." >&2
  exit 1
fi
actual=$(md5sum "$download/cifar.tar.gz" | cut -d' ' -f1)
if [[ "$actual" != "$md5" ]]; then
  echo "get-cifar10: MD5 mismatch: expected $md5, got $actual; the download is corrupt, nothing was unpacked" >&2
  exit 1
fi
mkdir -p "$target"
tar -xzf "$download/cifar.tar.gz" -C "$download"
cp "$download"/cifar-10-batches-bin/*.bin "$download"/cifar-10-batches-bin/batches.meta.txt "$target"/
complete "$target" && echo "get-cifar10: CIFAR-10 is in $target"
