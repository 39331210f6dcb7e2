#!/bin/sh
# tests/gpu/pack.sh BUILD_DIR [--llvm] — the prebuilt GPU programs a device call needs
# (tests/gpu, bench/peers, the application executables, daft-repl and
# runtime/libdaftgpu.so), stripped, as one gpucarry/bins.tar.xz (git-ignored) under the
# device's 64 MiB carry limit. --llvm also packs the shared libraries daft-repl needs for
# LLVM (libLLVM and the libraries it loads that are not in a base system, about 38 MB
# compressed) as gpucarry/llvm.tar.xz, for devices without them (tests/gpu/device_run.sh
# step 8).
set -eu
build=${1:?usage: tests/gpu/pack.sh BUILD_DIR [--llvm]}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for f in tests/gpu/test_gpu_rt tests/gpu/test_std_cuda tests/gpu/bench_gpu_plan \
         bench/peers/tp_mlp bench/peers/nccl_sendrecv bench/peers/nccl_allreduce bench/peers/nccl_graph_probe bench/peers/dp_probe bench/peers/ce_probe \
         tests/apps/tp_mlp tests/apps/pp_mlp tests/apps/pd_transfer tests/apps/dp_train_overlap tests/apps/dp_train_sharded \
         tests/apps/rl tests/apps/collectives_gpu tests/apps/collective_one_gpu tests/apps/ref_input_gpu tests/apps/ref_input_2gpu \
         tests/apps/collectives_shared_gpu tests/apps/iter_graphs_gpu \
         runtime/libdaftgpu.so \
         compiler/daft-repl; do
  mkdir -p "$stage/$(dirname "$f")"
  cp "$build/$f" "$stage/$f"
  strip "$stage/$f" 2>/dev/null || true
done
mkdir -p gpucarry
tar -cJf gpucarry/bins.tar.xz -C "$stage" .
ls -la gpucarry/bins.tar.xz
if [ "${2:-}" = --llvm ]; then
  llvm=$(mktemp -d)
  ldd "$build/compiler/daft-repl" | awk '/=> \// {print $1, $3}' | while read -r name path; do
    case $name in # (what a GPU machine's base system has)
      libc.so*|libm.so*|libgcc_s*|libstdc++*|libz.so*|liblzma*|libmpi*|libopen-*|libevent*|libhwloc*|\
      libopenblas*|libgfortran*|libquadmath*|libudev*) continue ;;
    esac
    cp -L "$path" "$llvm/$name"
    strip --strip-unneeded "$llvm/$name" 2>/dev/null || true
  done
  tar -cf - -C "$llvm" . | xz -T0 -6 > gpucarry/llvm.tar.xz
  rm -rf "$llvm"
  ls -la gpucarry/llvm.tar.xz
fi
