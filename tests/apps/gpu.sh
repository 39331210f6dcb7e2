#!/usr/bin/env bash
# tests/apps/gpu.sh BUILD_DIR — the application examples on GPUs (no DAFT_DEVICE=cpu): runs
# the executables prebuilt by `cmake --build BUILD_DIR --target daft_apps` (in
# BUILD_DIR/tests/apps/) at their CI sizes, one GPU per actor, and compares their output with
# the same tests/apps/NAME.expected as the CPU tests (float tolerance: fp32 cuBLAS, no TF32,
# against the double-precision reference). Builds nothing (the GPU machine has no LLVM);
# run from the repository root. Apps needing more GPUs than present are skipped.
# Exit 0 when everything that could run passed, 1 otherwise.
#
#   cmake --build build-gpu --target daft_apps        (here: a build with CUDA and NCCL)
#   bash tests/apps/gpu.sh build-gpu                  (device: carry build-gpu/tests/apps and
#                                                      build-gpu/runtime/libdaftgpu.so)
set -u
BUILD=$(cd "${1:?usage: tests/apps/gpu.sh BUILD_DIR}" && pwd) || exit 2
here=$(cd "$(dirname "$0")" && pwd)
export NCCL_NVLS_ENABLE=0 NVIDIA_TF32_OVERRIDE=0
export DAFT_GPU_LIB=${DAFT_GPU_LIB:-$BUILD/runtime/libdaftgpu.so}
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
echo "tests/apps/gpu.sh: ${ngpu:-0} GPUs; DAFT_GPU_LIB=$DAFT_GPU_LIB"
fail=0
# name[/expected][+variant] and GPUs needed (one per actor); dp_train_overlap/dp_train_overlap_timed
# is the run with DAFT_APP_TIMING=1 (its losses kept on the GPU), RESULT lines not compared
# (dp_train_sharded/dp_train_overlap_timed: the same timed training, the optimizer sharded);
# tp_mlp+tp2 and pp_mlp+stages2 run over 2 GPUs (TP = 2, 2 stages), with the same expected
# output (the sharded and the pipelined model compute the unsharded model's values)
# collectives_gpu is tests/run's program (interpreted and compiled collectives between GPU
# actors, on two GPUs and on one), checked against tests/run/collectives_gpu.expected;
# +icoll runs the schedules that hold collectives interpreted (DAFT_SCHEDULE_COLLECTIVES):
# their collectives then go over NCCL as interpreted collectives (SPEC 12); collective_one_gpu
# (tests/run) runs them over NCCL on a communicator of one GPU actor; ref_input_gpu (tests/run)
# gives a GPU tensor's Ref to a compiled schedule between GPU actors, ref_input_2gpu (tests/run)
# between GPUs: its DAFT_STATS table must show the tensor going W#2 -> W#3 (another GPU) and
# W#2 -> W#4 straight, never through the driver; collectives_shared_gpu
# (tests/run) runs collectives between two actors sharing a GPU and a compiled allreduce over
# a communicator of one rank whose input failed (the plan fails, the next call reloads it)
# iter_graphs_gpu (tests/run) launches whole executions of a compiled plan as CUDA graphs
# (+graphs: its stderr must say that 7 were), one member's check failing mid-way; +kill: one
# member killed (SIGKILL) in execution 5 while the other checks it: that execution fails,
# naming the dead member, and nothing hangs
for entry in tp_mlp:4 tp_mlp+tp2:2 pp_mlp:4 pp_mlp+stages2:2 pd_transfer:4 dp_train_overlap:2 \
             dp_train_overlap/dp_train_overlap_timed:2 dp_train_sharded:2 dp_train_sharded/dp_train_overlap_timed:2 rl:4 collectives_gpu:2 \
             tp_mlp+icoll:4 dp_train_overlap+icoll:2 dp_train_sharded+icoll:2 collective_one_gpu:1 ref_input_gpu:1 \
             ref_input_2gpu:2 \
             collectives_shared_gpu:1 iter_graphs_gpu+graphs:2 iter_graphs_gpu/iter_graphs_gpu.kill+kill:2; do
  app=${entry%%:*} need=${entry##*:}
  variant=
  case $app in *+*) variant=${app#*+} app=${app%%+*} ;; esac
  expect=${app#*/} app=${app%%/*}
  vars=
  [ "$expect" = dp_train_overlap_timed ] && vars="DAFT_APP_TIMING=1 DAFT_APP_WARMUP=2 DAFT_APP_ITERS=3"
  [ "$variant" = tp2 ] && vars="DAFT_APP_TP=2"
  [ "$variant" = stages2 ] && vars="DAFT_APP_STAGES=2"
  [ "$variant" = icoll ] && vars="DAFT_SCHEDULE_COLLECTIVES=interpreted"
  errwant=
  [ "$variant" = graphs ] && vars="DAFT_GPU_GRAPHS=1" errwant='7 plan executions launched as one graph'
  [ "$variant" = kill ] && vars="DAFT_GPU_GRAPHS=1 ITER_KILL_AT=5"
  [ "$expect" = ref_input_2gpu ] && vars="DAFT_STATS=1" errwant='W#2 -> W#3 (shm)'
  exe=$BUILD/tests/apps/$app
  name=$expect${variant:+ ($variant)}
  [ "$app" = dp_train_sharded ] && [ "$expect" != "$app" ] && name="$app ($expect)"
  expfile=$here/$expect.expected
  [ -f "$expfile" ] || expfile=$here/../run/$expect.expected
  if [ "${ngpu:-0}" -lt "$need" ]; then echo "SKIP $name: needs $need GPUs"; continue; fi
  if [ ! -x "$exe" ]; then echo "FAIL $name: not built ($exe)"; fail=1; continue; fi
  out=$(mktemp) err=$(mktemp) raw=$(mktemp)
  # past DAFT_APP_TIMEOUT (default 300 s) the actors get SIGABRT first, so that each writes
  # its stack (DAFT_ACTOR_BACKTRACE; symbolize with `addr2line -f -e OBJECT OFFSET` on the
  # unstripped build), then the program is killed
  env DAFT_SCHEDULE_LOG=1 DAFT_ACTOR_BACKTRACE=1 $vars "$exe" 2>>"$err" >"$raw" &
  pid=$!
  ( sleep "${DAFT_APP_TIMEOUT:-300}"
    if kill -0 $pid 2>/dev/null; then
      echo "gpu.sh: timed out after ${DAFT_APP_TIMEOUT:-300} s; the actors' stacks:" >>"$err"
      pkill -ABRT -P $pid; sleep 3; kill -9 $pid
    fi ) &
  watch=$!
  wait $pid
  st=$?
  pkill -P $watch 2>/dev/null; kill $watch 2>/dev/null
  grep -v '^RESULT' "$raw" >"$out"
  rm -f "$raw"
  if [ $st = 0 ] && python3 "$here/compare.py" "$expfile" "$out" &&
     { [ "$variant" = icoll ] || ! grep -q "^daft: schedule '.*': interpreted" "$err"; } &&
     { [ -z "$errwant" ] || grep -qF "$errwant" "$err"; }; then
    echo "PASS $name"
  else
    echo "FAIL $name (exit $st)"; echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; fail=1
  fi
  rm -f "$out" "$err"
done
exit $fail
