#!/usr/bin/env bash
# npm run setup:cuda — add onnxruntime's CUDA execution provider to onnxruntime-node.
# `npm ci` skips onnxruntime-node's own download (it fetches from NuGet; see .npmrc).
# The npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 ships the same two
# provider libraries for ONNX Runtime 1.29.0 (built for CUDA 13: needs libcudart.so.13,
# libcublas(Lt).so.13, libcurand.so.10 and, lazily, cuDNN 9 on the library path); they
# pair with onnxruntime-node@1.29.0 only, which package.json pins.
# Then `onnx-distill distill --ep cuda ...` (or the default --ep auto) uses the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
DEST=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "setup:cuda: the CUDA provider exists for Linux x86-64 only" >&2; exit 2; }
[ -d "$DEST" ] || { echo "setup:cuda: $DEST not found: run npm ci first" >&2; exit 2; }
ver=$(node -p "require('onnxruntime-node/package.json').version")
[ "$ver" = "1.29.0" ] || { echo "setup:cuda: onnxruntime-node is $ver; the provider in $PKG is for 1.29.0" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup:cuda: fetching $PKG (about 160 MB) from the npm registry" >&2
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
for f in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
  cp "$tmp/package/Plugins/Linux/x64/$f" "$DEST/$f.tmp" && mv "$DEST/$f.tmp" "$DEST/$f" # never a torn library
done
echo "setup:cuda: installed the CUDA provider into $DEST" >&2
if ! ldconfig -p 2>/dev/null | grep -q 'libcudart.so.13'; then
  echo "setup:cuda: note: libcudart.so.13 is not on the system library path; point LD_LIBRARY_PATH at CUDA 13 (cudart, cublas, curand) and cuDNN 9" >&2
fi
