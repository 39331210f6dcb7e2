#!/usr/bin/env bash
# tests/gpu/device_run.sh — one call on a lent GPU machine (its device time is scarce): every
# step writes its output under $OUT as it goes, most important first, so a call cut short
# still brings back what it did.
#
#   here:   cmake --build build-gpu -j2   (a CUDA + NCCL build; see tests/gpu/README.md)
#           sh tests/gpu/pack.sh build-gpu            (-> gpucarry/bins.tar.xz, stripped)
#   device: carry gpucarry; bash tests/gpu/device_run.sh
#
# Steps: 1 test_gpu_rt (the GPU data plane; 2 and 4 GPU parts when present) and
# test_std_cuda (every std op against the CPU, all dtypes), test_gpu_rt again with
# DAFT_GPU_GRAPHS=1; 2 the application examples on GPUs against their expected output
# (tests/apps/gpu.sh), also with DAFT_GPU_GRAPHS=1 (CUDA graphs must not change a value);
# 3 the daft side of W7, W5 (both data-parallel programs), W6 (16 and 64 micro-batches) at
# the reference sizes (RESULT lines, parsed by bench/run's format), and W5 and W7 again with
# their collectives interpreted (3-icoll.txt); 4 the peers of the same
# run: bench/peers/tp_mlp (W7), PyTorch DDP (W5) and the PyTorch send/recv pipeline (W6);
# 5 CUDA graphs (DAFT_GPU_GRAPHS=1) against none: W7 at TP 1, 2, 4 and batch 32, 256, W6 on
# 4 stages (the attribution runs of earlier sessions: `DAFT_DEVICE_STEPS=5a`);
# 6 the per-operation GPU time of a W5 step (DAFT_GPU_PROFILE=1) on 1 and 2 GPUs and of W6's
# resident form on one GPU, and the CPU time of a W7 TP = 4 worker at batch 32
# (DAFT_GPU_PROFILE=host), and DAFT_STATS tables of W5 (every GPU) and W6 (4 stages);
# 7 W3 (daft's bench_gpu_plan on 2 GPUs and the C peer nccl_sendrecv; bench_gpu_plan again
# with DAFT_NCCL_PREPOST=0, receives posted only when their control value came); 8 daft-repl's
# sessions (tests/repl) on GPUs; 9 (4 GPUs) an A/B of NCCL settings against the missed W7 and
# W5 targets; 10 W5's step with a copy-engine allreduce against NCCL's (bench/peers/ce_probe,
# dp_probe); 11 whole executions of compiled plans as one CUDA graph (DAFT_GPU_GRAPHS=1)
# against call-site graphs and none, W7. At the end every output is packed into $OUT/all.tgz.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
B=$PWD/build-dev
mkdir -p "$B" && tar -xJf gpucarry/bins.tar.xz -C "$B" || exit 3
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export NVIDIA_TF32_OVERRIDE=0 PYTHONUNBUFFERED=1
export DAFT_GPU_LIB=$B/runtime/libdaftgpu.so
for lib in libnccl.so.2 libcublas.so.13 libcublasLt.so.13; do
  ldconfig -p | grep -q "$lib" && continue
  f=$(timeout 15 find / -xdev -name "$lib" -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$f" ] && export LD_LIBRARY_PATH="$(dirname "$f")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpus.txt"
T0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - T0 )) s] $*"; }
STEPS=${DAFT_DEVICE_STEPS:-1 2 3 4 5 6 7 8 9 10 11} # a subset, e.g. "2 3" to repeat steps of a call cut short
want() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

want 1 && stamp "1 test_gpu_rt, test_std_cuda" &&
DAFT_GPU_QUICK=1 DAFT_GPU_TIMEOUT=100 DAFT_GPU_ONLY='test_gpu_rt|test_std_cuda' \
  timeout -k 5 200 bash tests/gpu/run.sh "$B" >"$OUT/1-gputests.txt" 2>&1
want 1 && tail -20 "$OUT/1-gputests.txt"
# the same data-plane tests, kill -9 included, with CUDA graphs of repeated calls (opt-in)
want 1 && DAFT_GPU_GRAPHS=1 DAFT_GPU_QUICK=1 DAFT_GPU_TIMEOUT=100 DAFT_GPU_ONLY='test_gpu_rt' \
  timeout -k 5 150 bash tests/gpu/run.sh "$B" >"$OUT/1-gputests-graphs.txt" 2>&1
want 1 && echo "(with DAFT_GPU_GRAPHS=1)" && grep -E "checks|PASS|FAIL" "$OUT/1-gputests-graphs.txt" | tail -4

if want 2; then
  stamp "2 applications on GPUs"
  # (each entry within 60 s: one that hangs is reported with its output, the others run)
  DAFT_APP_TIMEOUT=60 timeout -k 5 400 bash tests/apps/gpu.sh "$B" >"$OUT/2-apps.txt" 2>&1
  grep -E '^(tests/apps|PASS|FAIL|SKIP)' "$OUT/2-apps.txt"
  echo "(again with DAFT_GPU_GRAPHS=1: with CUDA graphs, the same results)"
  DAFT_GPU_GRAPHS=1 DAFT_APP_TIMEOUT=60 timeout -k 5 400 bash tests/apps/gpu.sh "$B" >"$OUT/2-apps-graphs.txt" 2>&1
  grep -E '^(PASS|FAIL|SKIP)' "$OUT/2-apps-graphs.txt"
fi

# daft APP ENV...: one run of an application example, its RESULT lines kept; with DAFT_TAG
# set their program reads daft_$DAFT_TAG (runs outside the figures, such as interpreted
# collectives and A/B settings: bench/plot_scaling.py leaves daft_* programs out)
DAFT_TXT=$OUT/3-daft.txt
DAFT_TAG=
daft() {
  local app=$1; shift
  env DAFT_APP_HIDDEN=4096 DAFT_APP_TIMING=1 "$@" timeout -k 5 60 "$B/tests/apps/$app" \
    2>>"$OUT/3-daft.err" | grep -E '^(RESULT|FAILED)' |
    sed "${DAFT_TAG:+s/^\(RESULT\t[^\t]*\t\)daft\t/\1daft_$DAFT_TAG\t/}" | tee -a "$DAFT_TXT"
}
want 3 && stamp "3 daft W7 W5 W6"
want 3 && for n in 1 2 4; do
  [ "$ngpu" -ge $n ] || continue
  for b in 32 256; do # (batch 32 is noisy: more forwards)
    daft tp_mlp DAFT_APP_TP=$n DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 DAFT_APP_WARMUP=3 \
      DAFT_APP_ITERS=$([ $b = 32 ] && echo 100 || echo 30)
  done
done
want 3 && for n in 1 2 4; do
  [ "$ngpu" -ge $n ] || continue
  daft dp_train_overlap DAFT_APP_REPLICAS=$n DAFT_APP_BATCH=256 DAFT_APP_STEPS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=20
done
want 3 && [ "$ngpu" -ge 4 ] && # the optimizer sharded (ZeRO-1): reducescatter + allgather
  daft dp_train_sharded DAFT_APP_REPLICAS=4 DAFT_APP_BATCH=256 DAFT_APP_STEPS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=20
want 3 && for s in 1 2 4; do
  [ "$ngpu" -ge $s ] || continue
  for m in 16 64; do
    daft pp_mlp DAFT_APP_STAGES=$s DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=$m DAFT_APP_ITERS=10
  done
done
# the schedules that hold collectives run interpreted: each collective a task over NCCL
# (SPEC 12), against the compiled rows above
if want 3 && [ "$ngpu" -ge 2 ]; then
  DAFT_TXT=$OUT/3-icoll.txt DAFT_TAG=icoll
  echo "interpreted collectives (DAFT_SCHEDULE_COLLECTIVES=interpreted), not compiled plans:" >"$DAFT_TXT"
  for n in 2 4; do
    [ "$ngpu" -ge $n ] || continue
    daft dp_train_overlap DAFT_SCHEDULE_COLLECTIVES=interpreted DAFT_APP_REPLICAS=$n DAFT_APP_BATCH=256 \
      DAFT_APP_STEPS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=10
    daft tp_mlp DAFT_SCHEDULE_COLLECTIVES=interpreted DAFT_APP_TP=$n DAFT_APP_BATCH=256 DAFT_APP_FORWARDS=1 \
      DAFT_APP_WARMUP=3 DAFT_APP_ITERS=30
  done
  DAFT_TXT=$OUT/3-daft.txt DAFT_TAG=
fi

want 4 && stamp "4 peers"
want 4 && for n in 1 2 4; do
  [ "$ngpu" -ge $n ] || continue
  timeout -k 5 60 "$B/bench/peers/tp_mlp" -n $n -iters 5 -reps 3 2>>"$OUT/4-peers.err" |
    grep -E '^(RESULT|FAILED)' | tee -a "$OUT/4-peers.txt"
done
want 4 && for script in ddp_mlp.py pp_sendrecv.py; do
  timeout -k 5 120 python3 "bench/torch/$script" --result --reps 1 2>>"$OUT/4-peers.err" |
    grep -E '^(RESULT|FAILED)' | tee -a "$OUT/4-peers.txt"
done

want 5 && stamp "5 CUDA graphs"
if want 5 && [ "$ngpu" -ge 4 ]; then
  DAFT_TXT=$OUT/5-graphs.txt
  echo "CUDA graphs of repeated calls (DAFT_GPU_GRAPHS=1; without: step 3):" >>"$DAFT_TXT"
  for n in 1 2 4; do
    for b in 32 256; do
      daft tp_mlp DAFT_GPU_GRAPHS=1 DAFT_APP_TP=$n DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 \
        DAFT_APP_WARMUP=3 DAFT_APP_ITERS=$([ $b = 32 ] && echo 100 || echo 30) >/dev/null
    done
  done
  daft pp_mlp DAFT_GPU_GRAPHS=1 DAFT_APP_STAGES=4 DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=64 \
    DAFT_APP_ITERS=10 >/dev/null
  grep -h "CUDA graphs of" "$OUT/3-daft.err" | sort | uniq -c | sort -rn | head -4 >>"$DAFT_TXT"
fi
cat "$OUT/5-graphs.txt" 2>/dev/null
want 5a && stamp "5a attribution"
if want 5a && [ "$ngpu" -ge 4 ]; then
  DAFT_TXT=$OUT/5-attribution.txt
  echo "no-overlap (DAFT_GPU_NO_OVERLAP=1):" >>"$DAFT_TXT"
  daft dp_train_overlap DAFT_GPU_NO_OVERLAP=1 DAFT_APP_REPLICAS=4 DAFT_APP_BATCH=256 DAFT_APP_STEPS=1 \
    DAFT_APP_WARMUP=3 DAFT_APP_ITERS=5 >/dev/null
  echo "collectives on the communication stream (DAFT_GPU_COLL_ON_COMPUTE=0):" >>"$DAFT_TXT"
  for b in 32 256; do
    daft tp_mlp DAFT_GPU_COLL_ON_COMPUTE=0 DAFT_APP_TP=4 DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 \
      DAFT_APP_WARMUP=3 DAFT_APP_ITERS=10 >/dev/null
  done
  daft pp_mlp DAFT_GPU_COLL_ON_COMPUTE=0 DAFT_APP_STAGES=4 DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=16 \
    DAFT_APP_ITERS=10 >/dev/null
  echo "collectives nobody reads on the communication stream (DAFT_GPU_DEAD_COLL_ON_COMPUTE=0):" >>"$DAFT_TXT"
  for b in 32 256; do
    daft tp_mlp DAFT_GPU_DEAD_COLL_ON_COMPUTE=0 DAFT_APP_TP=4 DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 \
      DAFT_APP_WARMUP=3 DAFT_APP_ITERS=30 >/dev/null
  done
  echo "freed device memory back to the pool, not kept (DAFT_GPU_CACHE=0):" >>"$DAFT_TXT"
  for b in 32 256; do
    daft tp_mlp DAFT_GPU_CACHE=0 DAFT_APP_TP=4 DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 \
      DAFT_APP_WARMUP=3 DAFT_APP_ITERS=30 >/dev/null
  done
  daft dp_train_overlap DAFT_GPU_CACHE=0 DAFT_APP_REPLICAS=4 DAFT_APP_BATCH=256 DAFT_APP_STEPS=1 \
    DAFT_APP_WARMUP=3 DAFT_APP_ITERS=5 >/dev/null
  for s in 1 4; do
    daft pp_mlp DAFT_GPU_CACHE=0 DAFT_APP_STAGES=$s DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=64 \
      DAFT_APP_ITERS=10 >/dev/null
  done
  daft dp_train_overlap DAFT_GPU_CACHE=0 DAFT_APP_REPLICAS=1 DAFT_APP_BATCH=256 DAFT_APP_STEPS=1 \
    DAFT_APP_WARMUP=3 DAFT_APP_ITERS=5 >/dev/null
  echo "every communicator on one communication stream (DAFT_GPU_ONE_LANE=1):" >>"$DAFT_TXT"
  for m in 16 64; do
    daft pp_mlp DAFT_GPU_ONE_LANE=1 DAFT_APP_STAGES=4 DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=$m \
      DAFT_APP_ITERS=10 >/dev/null
  done
  echo "async-writes (DAFT_GPU_ASYNC_WRITES=1):" >>"$DAFT_TXT"
  daft tp_mlp DAFT_GPU_ASYNC_WRITES=1 DAFT_APP_TP=4 DAFT_APP_BATCH=256 DAFT_APP_FORWARDS=1 \
    DAFT_APP_WARMUP=3 DAFT_APP_ITERS=10 >/dev/null
fi
cat "$OUT/5-attribution.txt" 2>/dev/null

# 6 where the GPU time of one W5 step goes (DAFT_GPU_PROFILE, per operation), 1 and 2 GPUs
if want 6; then
  stamp "6 GPU profile of W5"
  for n in 1 2; do
    [ "$ngpu" -ge $n ] || continue
    env DAFT_APP_HIDDEN=4096 DAFT_APP_TIMING=1 DAFT_GPU_PROFILE=1 DAFT_APP_REPLICAS=$n DAFT_APP_BATCH=256 \
      DAFT_APP_STEPS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=5 timeout -k 5 60 "$B/tests/apps/dp_train_overlap" \
      >>"$OUT/6-profile.txt" 2>&1
  done
  grep -A30 "GPU profile" "$OUT/6-profile.txt" | head -60
  # W6 on one GPU, resident form only: GPU time and idle per operation (the gap to PyTorch)
  env DAFT_APP_HIDDEN=4096 DAFT_APP_TIMING=1 DAFT_APP_HOST_IO=0 DAFT_GPU_PROFILE=1 DAFT_APP_STAGES=1 \
    DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=64 DAFT_APP_ITERS=10 timeout -k 5 60 "$B/tests/apps/pp_mlp" \
    2>&1 | grep -E "RESULT|GPU profile of Stage#1" -A12 | grep -v "micro-batch" >>"$OUT/6-profile-w6.txt"
  head -16 "$OUT/6-profile-w6.txt"
  if [ "$ngpu" -ge 4 ]; then # where a TP worker's CPU time goes at batch 32 (bound by it)
    env DAFT_APP_HIDDEN=4096 DAFT_APP_TIMING=1 DAFT_GPU_PROFILE=host DAFT_APP_TP=4 DAFT_APP_BATCH=32 \
      DAFT_APP_FORWARDS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=200 timeout -k 5 60 "$B/tests/apps/tp_mlp" \
      2>&1 | grep -E "RESULT.*ms_per|host profile|^  " | grep -v "micro-batch" >>"$OUT/6-host-profile.txt"
    head -40 "$OUT/6-host-profile.txt"
  fi
  # where W5 on every GPU and W6 on 4 stages wait: DAFT_STATS (SPEC 15.8) per channel and group
  env DAFT_APP_HIDDEN=4096 DAFT_APP_TIMING=1 DAFT_STATS=1 DAFT_APP_REPLICAS=$ngpu DAFT_APP_BATCH=256 \
    DAFT_APP_STEPS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=20 timeout -k 5 60 "$B/tests/apps/dp_train_overlap" \
    2>&1 | grep -E "RESULT|statistics|^  " >>"$OUT/6-stats.txt"
  [ "$ngpu" -ge 4 ] && env DAFT_APP_HIDDEN=4096 DAFT_APP_TIMING=1 DAFT_STATS=1 DAFT_APP_STAGES=4 \
    DAFT_APP_MICRO=64 DAFT_APP_MICRO_BATCHES=64 DAFT_APP_ITERS=10 timeout -k 5 60 "$B/tests/apps/pp_mlp" \
    2>&1 | grep -E "RESULT|statistics|^  " | grep -v "micro-batch" >>"$OUT/6-stats.txt"
  cat "$OUT/6-stats.txt"
fi
# 7 W3 (NCCL send/recv inside plans: 8 B round trip, 1 MiB and 256 MiB one way) with its C peer
if want 7; then
  stamp "7 W3 daft and peer"
  DAFT_GPU_TIMEOUT=100 DAFT_GPU_ONLY='sendrecv|bench_gpu_plan 2' \
    timeout -k 5 150 bash tests/gpu/run.sh "$B" >"$OUT/7-w3.txt" 2>&1
  grep -E "round|GB/s|us|PASS|FAIL" "$OUT/7-w3.txt" | tail -25
  echo "(daft W3 again without pre-posted receives, DAFT_NCCL_PREPOST=0)"
  DAFT_NCCL_PREPOST=0 DAFT_GPU_TIMEOUT=100 DAFT_GPU_ONLY='bench_gpu_plan 2' \
    timeout -k 5 150 bash tests/gpu/run.sh "$B" >"$OUT/7-w3-noprepost.txt" 2>&1
  grep -E "W3 |PASS|FAIL" "$OUT/7-w3-noprepost.txt" | tail -12
fi
# 8 daft-repl on GPUs: the REPL sessions of tests/repl against their transcripts, with
# DAFT_DEVICE=gpu (gpu_actors' actors then run on the GPU). daft-repl compiles loaded files
# with LLVM and links them with cc: the LLVM libraries travel in gpucarry/llvm.tar.xz
# (tests/gpu/pack.sh --llvm) when the machine lacks them.
if want 8; then
  stamp "8 daft-repl on GPUs"
  repl=$B/compiler/daft-repl
  if ldd "$repl" | grep -q "not found" && [ -f gpucarry/llvm.tar.xz ]; then
    mkdir -p "$B/llvm" && tar -xJf gpucarry/llvm.tar.xz -C "$B/llvm"
    export LD_LIBRARY_PATH="$B/llvm${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  { ldd "$repl" | grep "not found"; command -v cc || echo "no cc"; } >"$OUT/8-repl.txt" 2>&1
  for script in tests/repl/*.script; do
    name=$(basename "$script" .script)
    if DAFT_REPL_TEST_DEVICE=gpu timeout -k 5 150 sh tests/repl/run-one.sh "$repl" "$name" \
        >>"$OUT/8-repl.txt" 2>&1; then echo "PASS repl/$name"; else echo "FAIL repl/$name"; fi
  done | tee -a "$OUT/8-repl.txt"
fi
# 9 A/B of NCCL settings against the missed 4-GPU targets, interleaved over three rounds
# (one run each, the C peer in every round): W7 TP = 4 batch 32 with communicators that
# connect lazily (NCCL_RUNTIME_CONNECT=1, NCCL's default; daft sets 0, SPEC 11.5) and with
# NCCL's CTA policy "efficiency" (NCCL_CTA_POLICY=1: fewest CTAs, for overlap); W5 on 4 GPUs
# with each. Lines tagged "ab=NAME" in 9-ab.txt.
if want 9 && [ "$ngpu" -ge 4 ]; then
  stamp "9 A/B: NCCL_RUNTIME_CONNECT, NCCL_CTA_POLICY (W7 TP 4 batch 32, W5 4 GPUs)"
  DAFT_TXT=$OUT/9-ab.txt DAFT_TAG=ab
  for r in 1 2 3; do
    for ab in default NCCL_RUNTIME_CONNECT=1 NCCL_CTA_POLICY=1; do
      v=; [ "$ab" = default ] || v=$ab
      echo "ab=$ab round=$r" >>"$DAFT_TXT"
      daft tp_mlp $v DAFT_APP_TP=4 DAFT_APP_BATCH=32 DAFT_APP_FORWARDS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=100
      daft dp_train_overlap $v DAFT_APP_REPLICAS=4 DAFT_APP_BATCH=256 DAFT_APP_STEPS=1 DAFT_APP_WARMUP=3 \
        DAFT_APP_ITERS=20
    done
    echo "ab=peer round=$r" >>"$DAFT_TXT"
    timeout -k 5 60 "$B/bench/peers/tp_mlp" -n 4 -iters 5 -reps 3 2>>"$OUT/9-ab.err" |
      grep -E '^(RESULT.*TP=4, batch 32|FAILED)' | tee -a "$DAFT_TXT"
  done
  DAFT_TXT=$OUT/3-daft.txt DAFT_TAG=
fi
# 10 W5's step with an allreduce on the copy engines against NCCL's (bench/RESULTS.md,
# nineteenth session): ce_probe -mode step (one process driving every GPU: NCCL, copy engines,
# none) and dp_probe (one process per GPU, dp_train_overlap's order, NCCL's allreduce and the
# copy-engine one between processes: `ce`), three rounds, all GPUs.
if want 10 && [ "$ngpu" -ge 2 ]; then
  stamp "10 W5 step: copy-engine allreduce (ce_probe) against NCCL (dp_probe), $ngpu GPUs"
  for r in 1 2 3; do
    timeout -k 5 120 "$B/bench/peers/ce_probe" -mode step -n "$ngpu" -steps 20 -reps 3 2>&1 |
      sed "s/^/round=$r /" | tee -a "$OUT/10-ce.txt"
    timeout -k 5 120 "$B/bench/peers/dp_probe" -n "$ngpu" -variants compute,daft,ce -steps 20 -reps 3 \
      2>&1 | grep -E '^(RESULT|dp_probe)' | sed "s/^/round=$r /" | tee -a "$OUT/10-ce.txt"
  done
fi
# 11 whole executions of compiled plans as one CUDA graph each (DAFT_GPU_GRAPHS=1, SPEC 15.5)
# against call-site graphs only (DAFT_GPU_ITER_GRAPHS=0) and none, W7 at every TP the
# machine has, batch 32 and 256, three rounds; the peer with and without its graph; and how
# many executions each worker launched as graphs.
if want 11; then
  stamp "11 whole-execution CUDA graphs, W7"
  for r in 1 2 3; do
    for n in 1 2 4; do
      [ "$ngpu" -ge $n ] || continue
      for b in 32 256; do
        it=$([ $b = 32 ] && echo 100 || echo 30)
        DAFT_TXT=$OUT/11-iter.txt DAFT_TAG=none_r$r daft tp_mlp DAFT_APP_TP=$n DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=$it
        DAFT_TXT=$OUT/11-iter.txt DAFT_TAG=sites_r$r daft tp_mlp DAFT_GPU_GRAPHS=1 DAFT_GPU_ITER_GRAPHS=0 DAFT_APP_TP=$n DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=$it
        DAFT_TXT=$OUT/11-iter.txt DAFT_TAG=iter_r$r daft tp_mlp DAFT_GPU_GRAPHS=1 DAFT_APP_TP=$n DAFT_APP_BATCH=$b DAFT_APP_FORWARDS=1 DAFT_APP_WARMUP=3 DAFT_APP_ITERS=$it
      done
      for g in 0 1; do
        timeout -k 5 60 "$B/bench/peers/tp_mlp" -n $n -iters 5 -reps 3 -graph $g 2>>"$OUT/11-iter.err" |
          grep -E '^(RESULT|FAILED)' | sed "s/^/graph=$g round=$r /" | tee -a "$OUT/11-iter.txt"
      done
    done
  done
  grep -h "CUDA graphs of" "$OUT/3-daft.err" | sort | uniq -c | sort -rn | head -12 | tee -a "$OUT/11-iter.txt"
fi
stamp "done"
# a device call brings back only a few files: everything as one archive as well
# (a file still being written, e.g. the caller's own log under $OUT, must not stop the
# packing: tar's "file changed" is a warning here, and the loose files go once packed)
(cd "$OUT" && tar -czf all.tgz --exclude=all.tgz --warning=no-file-changed . ;
 [ -s all.tgz ] && find . -type f ! -name all.tgz -delete)
