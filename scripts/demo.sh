#!/bin/sh
# README's first command: install what is missing, build, and run the main demo on the
# embedded default (this machine; CPU-only when there is no GPU).
set -e
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDAFT_WERROR=OFF >/dev/null
cmake --build build -j"$(nproc)"
echo "== daftc --check examples/hello.daft"
./build/compiler/daftc --check examples/hello.daft && echo "ok: no diagnostics"
echo "== daftc --emit=ast examples/hello.daft"
./build/compiler/daftc --emit=ast examples/hello.daft
