#!/usr/bin/env bash
# Used for the 2026-11-27 14:30 UTC H100 run (bench/RESULTS.md): expects gpucarry/bins.tar.xz
# holding new/{tests/gpu/test_gpu_rt,tests/gpu/bench_gpu_plan,runtime/libdaftgpu.so,
# bench/peers/nccl_sendrecv} and head/{tests/gpu/bench_gpu_plan,runtime/libdaftgpu.so}
# (stripped; head = a build of `git archive` of the baseline commit). Device: carry gpucarry,
# run `bash tests/gpu/device_run.sh`.
# one device call: new build's GPU tests + W3/W4 (run.sh), then the HEAD build's bench
# (baseline, same machine), then the new build with DAFT_NCCL_NONBLOCKING=1 (attribution).
set -u
B=/tmp/b; mkdir -p $B && tar -xJf gpucarry/bins.tar.xz -C $B || exit 3
export NCCL_NVLS_ENABLE=0 NVIDIA_TF32_OVERRIDE=0
for lib in libnccl.so.2 libcublas.so.13 libcublasLt.so.13; do
  ldconfig -p | grep -q "$lib" && continue
  f=$(timeout 15 find / -xdev -name "$lib" -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$f" ] && export LD_LIBRARY_PATH="$(dirname "$f")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
mkdir -p $OUT/new
DAFT_GPU_TIMEOUT=60 DAFT_GPU_OUT=$OUT/new DAFT_GPU_ONLY='test_gpu_rt|sendrecv|bench_gpu_plan 2' \
  timeout -k 5 145 bash tests/gpu/run.sh $B/new 2>&1 | tail -60
echo "== HEAD bench_gpu_plan (baseline, same machine)"
DAFT_GPU_LIB=$B/head/runtime/libdaftgpu.so timeout -k 5 40 $B/head/tests/gpu/bench_gpu_plan 2>&1 | tee $OUT/head_bench.txt | tail -12
echo "== new bench_gpu_plan, DAFT_NCCL_NONBLOCKING=1"
DAFT_NCCL_NONBLOCKING=1 DAFT_GPU_LIB=$B/new/runtime/libdaftgpu.so timeout -k 5 30 $B/new/tests/gpu/bench_gpu_plan 2>&1 | tee $OUT/nonblocking_bench.txt | tail -12
