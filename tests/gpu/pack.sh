#!/bin/sh
# tests/gpu/pack.sh BUILD_DIR — the prebuilt GPU programs a device call needs (tests/gpu,
# bench/peers, the application executables and runtime/libdaftgpu.so), stripped, as one
# gpucarry/bins.tar.xz (git-ignored) under the device's 64 MiB carry limit.
set -eu
build=${1:?usage: tests/gpu/pack.sh BUILD_DIR}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for f in tests/gpu/test_gpu_rt tests/gpu/test_std_cuda tests/gpu/bench_gpu_plan \
         bench/peers/tp_mlp bench/peers/nccl_sendrecv bench/peers/nccl_allreduce \
         tests/apps/tp_mlp tests/apps/pp_mlp tests/apps/pd_transfer tests/apps/dp_train_overlap tests/apps/dp_train_sharded \
         tests/apps/rl tests/apps/collectives_gpu tests/apps/collective_one_gpu runtime/libdaftgpu.so; do
  mkdir -p "$stage/$(dirname "$f")"
  cp "$build/$f" "$stage/$f"
  strip "$stage/$f" 2>/dev/null || true
done
mkdir -p gpucarry
tar -cJf gpucarry/bins.tar.xz -C "$stage" .
ls -la gpucarry/bins.tar.xz
