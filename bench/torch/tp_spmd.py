#!/usr/bin/env python3
"""bench/torch/tp_spmd.py — W7 peer: tensor-parallel inference of DESIGN.md's reference MLP
written in PyTorch the usual SPMD way (one process per GPU, dist.all_reduce).

  python3 bench/torch/tp_spmd.py [--tp 1,2,4] [--batches 32,256] [--iters 50] [--reps 5]
                                 [--no-check] [--result]

One process per GPU (torch.multiprocessing, 'spawn'; no torchrun), NCCL over localhost.
Model: 8 x (Linear(4096 -> 4096), no bias, ReLU after every layer, the last included),
fp32, TF32 off; W_l ~ N(0, 2/4096) as [in, out] (y = x @ W_l), the same on every rank
(seeded generator). Megatron-style, as bench/peers/tp_mlp.c and examples/tp_mlp.daft:
  even l: column-parallel, rank r holds W_l[:, r h/TP : (r+1) h/TP]: a [b, h/TP] shard, ReLU;
  odd l:  row-parallel, rank r holds W_l[r h/TP : (r+1) h/TP, :]: a partial [b, h],
          dist.all_reduce (sum), ReLU.
TP = 1 is the plain one-GPU forward (no communication).

Figure: ms per forward = median over --reps of (wall time of --iters back-to-back forwards
of the slowest rank, from a common barrier, ended by cuda.synchronize) / iters. One JSON line
per (TP, batch), see common.py: config "TP=4, batch 32", metric ms_per_forward. Unless
--no-check, rank 0 first compares the TP output with the unsharded model on its GPU
(|tp - ref| <= 1e-4 (1 + |ref|)); a mismatch is a failure (value null).
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def worker(rank, world, port, args):
    import torch
    import torch.distributed as dist
    common.no_tf32(torch)
    if world > 1:
        common.init_group(torch, dist, rank, world, port)
    else:
        torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    H, L = common.HIDDEN, common.LAYERS
    s = H // world
    gen = torch.Generator(device=dev)
    shards, full = [], []
    for l in range(L):
        gen.manual_seed(1000 + l)
        w = torch.randn(H, H, device=dev, generator=gen) * math.sqrt(2.0 / H)
        shard = w[:, rank * s:(rank + 1) * s] if l % 2 == 0 else w[rank * s:(rank + 1) * s, :]
        shards.append(shard.contiguous())
        if rank == 0 and not args.no_check:
            full.append(w)
        del w

    def forward(x):
        for l, w in enumerate(shards):
            x = x @ w
            if l % 2 == 1 and world > 1:
                dist.all_reduce(x)
            x = torch.relu(x)
        if L % 2 == 1 and world > 1:  # the last layer was column-parallel: gather the shards
            parts = [torch.empty_like(x) for _ in range(world)]
            dist.all_gather(parts, x)
            x = torch.cat(parts, dim=1)
        return x

    info = common.env_info(torch) if rank == 0 else None
    bad = False
    for b in args.batches:
        gen.manual_seed(7)
        x = torch.randn(b, H, device=dev, generator=gen)
        y = forward(x)
        note = None
        if rank == 0 and not args.no_check:
            ref = x
            for w in full:
                ref = torch.relu(ref @ w)
            err = ((y - ref).abs() / (1 + ref.abs())).max().item()
            if not err <= 1e-4:
                note = "failed: TP output differs from the unsharded model (max rel. diff %.3g)" % err
                bad = True
        for _ in range(3):
            forward(x)
        times = []
        for _ in range(args.reps):
            common.start_together(torch, dist)
            t0 = time.perf_counter()
            for _ in range(args.iters):
                forward(x)
            torch.cuda.synchronize()
            times.append(common.slowest(torch, dist, time.perf_counter() - t0))
        if rank == 0:
            t = common.median(times)
            rec = {"workload": "W7", "program": "pytorch_tp", "config": "TP=%d, batch %d" % (world, b),
                   "metric": "ms_per_forward", "value": None if note else 1000.0 * t / args.iters,
                   "gpus": world, "tp": world, "batch": b, "iters": args.iters,
                   "reps_ms": [round(1000.0 * v / args.iters, 5) for v in times],
                   "checked": not args.no_check, "tf32": False}
            if note:
                rec["note"] = note
            rec.update(info)
            common.emit(rec, args.result)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if bad:
        sys.exit(3)  # the parent reports this TP degree as failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tp", type=common.int_list, default=[1, 2, 4])
    ap.add_argument("--batches", type=common.int_list, default=[32, 256])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--result", action="store_true", help="also print bench/run RESULT lines")
    args = ap.parse_args()
    common.set_env()
    import torch
    ngpu = torch.cuda.device_count()
    failed = False
    for n in args.tp:
        if common.HIDDEN % n:
            ap.error("--tp: %d does not divide %d" % (n, common.HIDDEN))
        if n > ngpu:
            for b in args.batches:
                common.emit({"workload": "W7", "program": "pytorch_tp", "config": "TP=%d, batch %d" % (n, b),
                             "metric": "ms_per_forward", "value": None, "gpus": n,
                             "note": "skipped: needs %d GPUs, %d here" % (n, ngpu)})
            continue
        common.progress("TP=%d" % n)
        err = common.spawn(torch, worker, n, (n, common.free_port(), args))
        if err:
            failed = True
            common.emit({"workload": "W7", "program": "pytorch_tp", "config": "TP=%d" % n,
                         "metric": "ms_per_forward", "value": None, "gpus": n, "note": "failed: " + err})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
