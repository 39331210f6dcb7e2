#!/usr/bin/env bash
# tests/gpu/run.sh BUILD_DIR — every GPU test and GPU benchmark peer, from a prebuilt build
# directory (it builds nothing: the GPU machine has no flex/bison/LLVM/cmocka). Prints a
# table last; exits 1 if any test failed.
#
#   bash tests/gpu/run.sh build-gpu                  # all, with as many GPUs as there are
#   DAFT_GPU_QUICK=1 bash tests/gpu/run.sh build-gpu # tests only, no benchmarks
#   DAFT_GPU_OUT=dir  ...                            # also write log.txt and results.tsv there
#   DAFT_GPU_ONLY='tp_mlp|sendrecv' ...              # only the programs whose name matches
#
# Runs: tests/gpu/test_std_cuda (every std_cuda op against the CPU stdlib, randn bit for
# bit) on GPU 0; bench/peers tp_mlp (TP forward checked against the unsharded model, then
# timed) over 1, 2 and 4 GPUs; nccl_sendrecv (W3) over 2; nccl_allreduce (W4, sums
# checked) over 2 and 4; the application examples against their references
# (tests/apps/gpu.sh). Programs needing more GPUs than present are listed as skipped.
set -u
BUILD=${1:?usage: tests/gpu/run.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 2
OUTDIR=${DAFT_GPU_OUT:-}
QUICK=${DAFT_GPU_QUICK:-0}
LIMIT=${DAFT_GPU_TIMEOUT:-300}

# NVLink multicast stays off (shared machines); fp32 GEMMs never become TF32.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export NVIDIA_TF32_OVERRIDE=0
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-8}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LOG=$TMP/log.txt RES=$TMP/results.tsv STAT=$TMP/status.tsv
: >"$RES"
: >"$STAT"

say() { printf '%s\n' "$*" | tee -a "$LOG"; }

TEST_BIN=$BUILD/tests/gpu/test_std_cuda
PEERS=$BUILD/bench/peers
RT_TEST=$BUILD/tests/gpu/test_gpu_rt RT_BENCH=$BUILD/tests/gpu/bench_gpu_plan
BINS=("$TEST_BIN" "$PEERS/nccl_sendrecv" "$PEERS/nccl_allreduce" "$PEERS/tp_mlp" "$RT_TEST" "$RT_BENCH"
      "$BUILD/runtime/libdaftgpu.so")
# GPU actors dlopen the GPU runtime (runtime/rt_gpu.h); point them at this build's copy.
export DAFT_GPU_LIB=${DAFT_GPU_LIB:-$BUILD/runtime/libdaftgpu.so}

# ---- shared libraries: cuBLAS and NCCL are linked dynamically; find them if the loader
# does not (CUDA's lib64, the python wheels' copies, ...).
missing_libs() { for b in "${BINS[@]}"; do [ -x "$b" ] && ldd "$b" 2>/dev/null; done |
                 awk '/not found/ {print $1}' | sort -u; }
for lib in $(missing_libs); do
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
           /usr/lib/x86_64-linux-gnu /usr/lib /usr/local/lib; do
    if [ -e "$d/$lib" ]; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; continue 2; fi
  done
  f=$(find / -xdev -name "$lib" -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$f" ] && export LD_LIBRARY_PATH="$(dirname "$f")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
left=$(missing_libs | tr '\n' ' ')

say "== daft GPU tests  $(date -u '+%Y-%m-%d %H:%M UTC')  host $(hostname)"
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
GPUNAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
say "GPUs: ${NGPU:-0} x ${GPUNAME:-?}; driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
[ -n "$left" ] && say "WARNING: shared libraries not found: $left"
say "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
nvidia-smi topo -m 2>/dev/null | head -$((NGPU + 1)) >>"$LOG"

# run NAME NEEDED_GPUS KIND(test|bench) CMD... : runs one program, records PASS/FAIL/SKIP
# and its RESULT lines.
FAILED=0
run() {
  local name=$1 need=$2 kind=$3; shift 3
  if [ -n "${DAFT_GPU_ONLY:-}" ] && ! printf '%s' "$name" | grep -Eq "$DAFT_GPU_ONLY"; then
    printf '%s\tSKIP\tnot in DAFT_GPU_ONLY\n' "$name" >>"$STAT"; return
  fi
  if [ "$kind" = bench ] && [ "$QUICK" = 1 ]; then
    printf '%s\tSKIP\tDAFT_GPU_QUICK=1\n' "$name" >>"$STAT"; return
  fi
  if [ "${NGPU:-0}" -lt "$need" ]; then
    printf '%s\tSKIP\tneeds %s GPUs, %s here\n' "$name" "$need" "${NGPU:-0}" >>"$STAT"; return
  fi
  if [ ! -x "$1" ]; then
    printf '%s\tFAIL\tnot built: %s\n' "$name" "$1" >>"$STAT"; FAILED=1; return
  fi
  say ""
  say "== $name: $*"
  local t0=$SECONDS out=$TMP/out.txt
  timeout -k 10 $((LIMIT + 30)) "$@" >"$out" 2>&1
  local rc=$?
  cat "$out" >>"$LOG"
  grep -v '^RESULT' "$out" | tail -40
  grep '^RESULT' "$out" | cut -f2- >>"$RES"
  if [ $rc -eq 0 ]; then
    printf '%s\tPASS\t%ss\n' "$name" $((SECONDS - t0)) >>"$STAT"
  else
    printf '%s\tFAIL\texit %s after %ss\n' "$name" $rc $((SECONDS - t0)) >>"$STAT"
    FAILED=1
  fi
}

run "test_std_cuda (ops vs CPU, randn bits)" 1 test "$TEST_BIN"
run "test_gpu_rt (GPU actors, ops, NCCL plans, kill)" 1 test "$RT_TEST"
run "tp_mlp TP=1 (W7)" 1 bench "$PEERS/tp_mlp" -n 1 -timeout "$LIMIT"
run "tp_mlp TP=2 (W7, checked)" 2 test "$PEERS/tp_mlp" -n 2 -timeout "$LIMIT" \
    $([ "$QUICK" = 1 ] && echo -iters 1 -reps 1)
run "tp_mlp TP=4 (W7, checked)" 4 test "$PEERS/tp_mlp" -n 4 -timeout "$LIMIT" \
    $([ "$QUICK" = 1 ] && echo -iters 1 -reps 1)
run "nccl_allreduce 2 GPUs (W4, checked)" 2 test "$PEERS/nccl_allreduce" -n 2 -timeout "$LIMIT" \
    $([ "$QUICK" = 1 ] && echo -iters 2)
run "nccl_allreduce 4 GPUs (W4, checked)" 4 test "$PEERS/nccl_allreduce" -n 4 -timeout "$LIMIT" \
    $([ "$QUICK" = 1 ] && echo -iters 2)
run "nccl_sendrecv 2 GPUs (W3, checked)" 2 test "$PEERS/nccl_sendrecv" -timeout "$LIMIT" \
    $([ "$QUICK" = 1 ] && echo -iters 2)
run "applications on GPUs (tests/apps/gpu.sh)" 2 test "$(cd "$(dirname "$0")/../apps" && pwd)/gpu.sh" "$BUILD"
run "bench_gpu_plan 2 GPUs (daft W3, W4)" 2 bench "$RT_BENCH"
run "bench_gpu_plan 4 GPUs (daft W4)" 4 bench "$RT_BENCH" -n4

# ---- reference figures of ../shared/DESIGN.md (other machines: for orientation only)
ref() {
  case "$1|$2|$3" in
    "W4|4 GPUs, 536870912 B f32|busbw_GBps") echo "348 (NCCL, 4xH100)";;
    "W4|2 GPUs, 536870912 B f32|busbw_GBps") echo "313 (NCCL, 2xH100)";;
    "W4|4 GPUs, 8 B f32|time_us") echo "26.5 (NCCL, 4xH100)";;
    "W3|2 GPUs, 8 B|oneway_us") echo "19.6 (nccl-tests sendrecv)";;
    "W3|2 GPUs, 8 B|rtt_host_us") echo "122 (PyTorch ping-pong)";;
    "W3|2 GPUs, 268435456 B|oneway_GBps"|"W3|2 GPUs, 268435456 B|stream_GBps") echo "358 (PyTorch one way)";;
    "W7|TP=1, batch 32|ms_per_forward") echo "0.450 (PyTorch, H200)";;
    "W7|TP=2, batch 32|ms_per_forward") echo "0.534 (PyTorch, H200)";;
    "W7|TP=4, batch 32|ms_per_forward") echo "0.731 (PyTorch, H200)";;
    "W7|TP=1, batch 256|ms_per_forward") echo "1.466 (PyTorch, H200)";;
    "W7|TP=2, batch 256|ms_per_forward") echo "0.956 (PyTorch, H200)";;
    "W7|TP=4, batch 256|ms_per_forward") echo "0.823 (PyTorch, H200)";;
    *) echo "";;
  esac
}

[ "${NGPU:-0}" -lt 1 ] && FAILED=2
{
  echo ""
  echo "================================================================ daft GPU summary"
  echo "machine: ${NGPU:-0} x ${GPUNAME:-?}   $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo ""
  awk -F'\t' '{ printf "  %-42s %-5s %s\n", $1, $2, $3 }' "$STAT"
  if [ -s "$RES" ]; then
    echo ""
    printf '  %-4s %-15s %-26s %-15s %12s   %s\n' id program configuration metric value "peer figure (DESIGN.md)"
    while IFS=$'\t' read -r w p c m v; do
      printf '  %-4s %-15s %-26s %-15s %12s   %s\n' "$w" "$p" "$c" "$m" "$v" "$(ref "$w" "$c" "$m")"
    done <"$RES"
    # daft vs the peer measured in this same run (same workload, configuration, metric)
    echo ""
    echo "  daft compiled plans vs the SPMD peers of this run:"
    awk -F'\t' '$2 != "daft_plan" { peer[$1 "|" $3 "|" $4] = $5; pn[$1 "|" $3 "|" $4] = $2 }
                $2 == "daft_plan" { d[++n] = $0 }
                END { for (i = 1; i <= n; i++) { split(d[i], f, "\t");
                        # (the round trip of daft timed on actor A compares with rank 0 of the peer)
                        k = f[1] "|" f[3] "|" (f[4] == "rtt_actor_us" ? "rtt_host_us" : f[4]);
                        if (k in peer && peer[k] + 0 > 0)
                          printf "    %-4s %-26s %-12s daft %10.4g  %-15s %10.4g  ratio %.3f%s\n", f[1], f[3], f[4], f[5], pn[k], peer[k], f[5] / peer[k],
                                 (f[4] ~ /us$/ ? " (lower is better)" : " (higher is better)") } }' "$RES"
  fi
  echo ""
  if [ $FAILED -eq 2 ]; then echo "GPU tests: NOT RUN (no GPU visible)"
  elif [ $FAILED -eq 0 ]; then echo "GPU tests: PASS"; else echo "GPU tests: FAIL"; fi
} | tee -a "$LOG"

if [ -n "$OUTDIR" ]; then
  mkdir -p "$OUTDIR" && cp "$LOG" "$RES" "$OUTDIR"/ && cp "$STAT" "$OUTDIR/status.tsv"
fi
exit $FAILED
