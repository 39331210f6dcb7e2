#!/bin/sh
# README's first command: install what is missing, build, and run the main demo on the
# embedded default (this machine, one process per actor; CPU-only when there is no GPU).
set -e
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDAFT_WERROR=OFF -DDAFT_FUZZ=OFF >/dev/null
cmake --build build -j"$(nproc)" --target daftc daft-repl
if ! nvidia-smi -L >/dev/null 2>&1; then
  # CPU-only mode is explicit in daft, never a silent fallback (SPEC.md 15.6).
  echo "== no GPU found: running with DAFT_DEVICE=cpu"
  export DAFT_DEVICE=cpu
fi
mkdir -p out
echo "== daftc examples/hello.daft -o out/hello && out/hello"
./build/compiler/daftc examples/hello.daft -o out/hello
./out/hello
echo "== daftc --emit-plan examples/chain.daft (the per-actor channel plan of Figure 1b)"
./build/compiler/daftc --emit-plan examples/chain.daft
echo "== daftc examples/chain.daft -o out/chain && out/chain"
./build/compiler/daftc examples/chain.daft -o out/chain
./out/chain
