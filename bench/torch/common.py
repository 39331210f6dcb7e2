"""bench/torch/common.py — shared helpers of the PyTorch peer scripts (W5, W6, W7).

Every script prints one line of JSON per figure on standard output (progress goes to
standard error), with at least these keys:

  workload   "W5" | "W6" | "W7"
  program    the peer's name, e.g. "pytorch_ddp"
  config     what was measured, e.g. "4 GPUs" (bench/run pairs rows by config and metric)
  metric     "samples_per_s" | "ms_per_forward" | ...
  value      the figure (null when skipped or failed; then "note" says why)
  gpus       GPUs used
  and the environment: gpu (name), torch, cuda, nccl, host, date

With --result, each figure is also printed as bench/run's RESULT line
  RESULT <tab> workload <tab> program <tab> config <tab> metric <tab> value

The environment is fixed for every script and every child process: NVLink multicast (NVLS)
off, and no TF32 anywhere (fp32 GEMMs are fp32).
"""
import json
import os
import socket
import statistics
import sys
import time

GPU_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
           "NVSHMEM_DISABLE_NVLS": "1", "NVIDIA_TF32_OVERRIDE": "0"}

# The reference MLP of DESIGN.md: LAYERS x (Linear(HIDDEN -> HIDDEN), ReLU), fp32.
HIDDEN = 4096
LAYERS = 8


def set_env():
    """Sets GPU_ENV in this process; children started afterwards inherit it."""
    for k, v in GPU_ENV.items():
        os.environ[k] = v


def no_tf32(torch):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_group(torch, dist, rank, world, port):
    """One process per GPU: rank r uses GPU r; NCCL process group over TCP on localhost."""
    torch.cuda.set_device(rank)
    kw = dict(backend="nccl", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
              world_size=world)
    try:
        dist.init_process_group(device_id=torch.device("cuda", rank), **kw)
    except TypeError:  # older PyTorch: no device_id
        dist.init_process_group(**kw)


def env_info(torch):
    nccl = None
    try:
        v = torch.cuda.nccl.version()
        nccl = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
    except Exception:  # noqa: BLE001 - informational only
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"gpu": gpu, "gpus_present": torch.cuda.device_count(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "nccl": nccl, "host": socket.gethostname(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def emit(rec, result_line=False):
    print(json.dumps(rec), flush=True)
    if result_line and rec.get("value") is not None:
        print("RESULT\t%s\t%s\t%s\t%s\t%.6g" % (rec["workload"], rec["program"], rec["config"],
                                              rec["metric"], rec["value"]), flush=True)


def progress(msg):
    print("[%s %s] %s" % (os.path.basename(sys.argv[0]), time.strftime("%H:%M:%S"), msg),
          file=sys.stderr, flush=True)


def int_list(s):
    return [int(x) for x in s.split(",") if x.strip()]


def median(xs):
    return statistics.median(xs) if xs else None


def slowest(torch, dist, seconds):
    """The largest of every rank's `seconds` (all ranks get it)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return seconds
    t = torch.tensor([seconds], dtype=torch.float64, device="cuda")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def start_together(torch, dist):
    """Barrier (when distributed), then drain this GPU: the timed region starts here."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
    torch.cuda.synchronize()


def spawn(torch, fn, nprocs, args):
    """Runs fn(rank, *args) in nprocs fresh processes (torch.multiprocessing, start method
    'spawn': no torchrun). Returns None, or the error text of the first failing rank."""
    import torch.multiprocessing as mp
    try:
        mp.spawn(fn, args=args, nprocs=nprocs, join=True)
        return None
    except Exception as e:  # noqa: BLE001 - reported as a skipped figure
        text = str(e).strip().splitlines()
        return text[-1] if text else repr(e)
