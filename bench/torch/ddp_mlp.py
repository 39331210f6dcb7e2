#!/usr/bin/env python3
"""bench/torch/ddp_mlp.py — W5 peer: PyTorch DDP training of DESIGN.md's reference MLP.

  python3 bench/torch/ddp_mlp.py [--gpus 1,2,4] [--steps 50] [--warmup 10] [--reps 3]
                                 [--batch 256] [--bucket-mb 25] [--bias] [--result]

No torchrun: the script starts one process per GPU itself (torch.multiprocessing, 'spawn'),
rank r on GPU r, NCCL process group over localhost TCP. Model: 8 x (Linear(4096 -> 4096),
ReLU), fp32, TF32 off (torch.backends and NVIDIA_TF32_OVERRIDE=0), no bias (daft's
std.tensor.linear_forward has none; --bias adds it), weights ~ N(0, 2/4096); MSE loss against
a fixed random target; plain SGD (lr 0.01); batch 256 per GPU (a fixed random batch per
rank: no data loading). DDP as users write it: DistributedDataParallel(model,
device_ids=[rank]) with its default 25 MB buckets, so every layer's 64 MiB weight gradient
is its own bucket and is all-reduced while backward goes on (the overlap daft's
examples/dp_train_overlap.daft does per layer).

Figures (one JSON line each, see common.py):
  config "N GPUs"           program pytorch_ddp     metric samples_per_s (also ms_per_step)
  config "1 GPU, no DDP"    program pytorch_single  the same loop without DDP
samples/s = N * batch * steps / (wall time of `steps` steps of the slowest rank), median
over --reps repetitions, each started by a barrier and ended by cuda.synchronize.
Configurations needing more GPUs than present are printed with value null and a note.
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def worker(rank, world, port, args, mode):
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    common.no_tf32(torch)
    if mode == "ddp":
        common.init_group(torch, dist, rank, world, port)
    else:
        torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    H, L, B = common.HIDDEN, common.LAYERS, args.batch

    torch.manual_seed(1000)  # identical initial weights on every rank
    mods = []
    for _ in range(L):
        lin = nn.Linear(H, H, bias=args.bias)
        nn.init.normal_(lin.weight, std=math.sqrt(2.0 / H))
        if args.bias:
            nn.init.zeros_(lin.bias)
        mods += [lin, nn.ReLU()]
    model = nn.Sequential(*mods).to(dev)
    net = model
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[rank], bucket_cap_mb=args.bucket_mb)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    gen = torch.Generator(device=dev)
    gen.manual_seed(2000 + rank)
    x = torch.randn(B, H, device=dev, generator=gen)
    gen.manual_seed(99 + rank)
    target = torch.randn(B, H, device=dev, generator=gen)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), target)
        loss.backward()
        opt.step()
        return loss

    first = step().item()
    for _ in range(args.warmup - 1):
        step()
    times = []
    for _ in range(args.reps):
        common.start_together(torch, dist)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        torch.cuda.synchronize()
        times.append(common.slowest(torch, dist, time.perf_counter() - t0))
    last = loss.item()

    if rank == 0:
        t = common.median(times)
        rec = {"workload": "W5", "program": "pytorch_ddp" if mode == "ddp" else "pytorch_single",
               "config": ("%d GPU%s" % (world, "" if world == 1 else "s")) if mode == "ddp"
               else "1 GPU, no DDP",
               "metric": "samples_per_s", "value": world * B * args.steps / t,
               "ms_per_step": 1000.0 * t / args.steps, "gpus": world, "batch_per_gpu": B,
               "steps": args.steps, "reps_s": [round(v, 6) for v in times],
               "loss_first": first, "loss_last": last, "bias": args.bias,
               "bucket_cap_mb": args.bucket_mb if mode == "ddp" else None, "tf32": False}
        rec.update(common.env_info(torch))
        common.emit(rec, args.result)
    if mode == "ddp":
        dist.barrier()
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpus", type=common.int_list, default=[1, 2, 4])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--bucket-mb", type=float, default=25.0)
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--no-single", action="store_true", help="skip the 1 GPU, no DDP figure")
    ap.add_argument("--result", action="store_true", help="also print bench/run RESULT lines")
    args = ap.parse_args()
    args.warmup = max(1, args.warmup)
    common.set_env()
    import torch
    ngpu = torch.cuda.device_count()
    runs = [] if args.no_single else [(1, "single")]
    runs += [(n, "ddp") for n in args.gpus]
    failed = False
    for n, mode in runs:
        base = {"workload": "W5", "program": "pytorch_ddp" if mode == "ddp" else "pytorch_single",
                "config": ("%d GPU%s" % (n, "" if n == 1 else "s")) if mode == "ddp" else "1 GPU, no DDP",
                "metric": "samples_per_s", "value": None, "gpus": n}
        if n > ngpu:
            common.emit(dict(base, note="skipped: needs %d GPUs, %d here" % (n, ngpu)))
            continue
        common.progress("%s on %d GPU(s)" % (mode, n))
        err = common.spawn(torch, worker, n, (n, common.free_port(), args, mode))
        if err:
            failed = True
            common.emit(dict(base, note="failed: " + err))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
