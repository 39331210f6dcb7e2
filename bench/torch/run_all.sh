#!/bin/sh
# bench/torch/run_all.sh [OUTFILE] — runs the three PyTorch peers (W5 ddp_mlp.py, W6
# pp_sendrecv.py, W7 tp_spmd.py) on the GPUs present and appends their JSON lines to
# OUTFILE (default $OUT/torch_peers.jsonl, or ./torch_peers.jsonl without $OUT); the lines
# are echoed to standard output too, progress goes to standard error. Configurations that
# need more GPUs than present are written with value null and a note. Exit 1 if a script
# failed. Extra options for every script: DAFT_TORCH_ARGS (e.g. "--result").
#
#   bash bench/torch/run_all.sh                     # on a machine with 1-4 GPUs and PyTorch
#   python3 bench/plot_scaling.py torch_peers.jsonl -o scaling.png
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${OUT:-.}/torch_peers.jsonl}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export NVIDIA_TF32_OVERRIDE=0
: >>"$out"
nvidia-smi -L >&2 2>/dev/null || true
rc=0
for s in ddp_mlp.py pp_sendrecv.py tp_spmd.py; do
  echo "== $s $(date -u '+%H:%M:%S')" >&2
  # shellcheck disable=SC2086
  python3 "$here/$s" ${DAFT_TORCH_ARGS:-} > "$out.part" || { echo "$s: exit status $?" >&2; rc=1; }
  cat "$out.part"
  grep '^{' "$out.part" >>"$out"
  rm -f "$out.part"
done
echo "wrote $out" >&2
exit $rc
