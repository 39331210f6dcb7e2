#!/usr/bin/env python3
"""bench/torch/pp_sendrecv.py — W6 peer: pipeline-parallel inference of DESIGN.md's reference
MLP with torch.distributed send/recv, against the single-GPU run on the same micro-batches.

  python3 bench/torch/pp_sendrecv.py [--stages 1,2,4] [--micro-batches 16,64] [--micro 64]
                                     [--inflight 4] [--reps 5] [--modes sync,async] [--result]

One process per stage and GPU (torch.multiprocessing, 'spawn'; no torchrun), NCCL over
localhost. Model: 8 x (Linear(4096 -> 4096), ReLU), fp32, TF32 off, weights
W_l ~ N(0, 2/4096) as [in, out] (y = relu(x @ W_l)); S stages of 8/S consecutive layers.
Stage 0 holds the M micro-batches of --micro rows (64), already on its GPU; the last stage
keeps the outputs on its GPU. Written the usual SPMD way, two variants:

  sync   every stage: for each micro-batch, dist.recv from the previous stage, compute,
         dist.send to the next. The host runs ahead of the GPU (NCCL work only makes the
         compute stream wait), so micro-batches overlap across stages.
  async  the same with dist.irecv posted --inflight micro-batches ahead into a ring of
         buffers and dist.isend, so several micro-batches are in flight per link.

S = 1 is the single-GPU run: the same M micro-batches through all 8 layers on one GPU, one
after the other (the W6 baseline); with S = 1 the script also times the same rows as one
batch of M * micro ("1 GPU, one batch").

Figure: samples/s = M * micro / (wall time of the slowest stage from a common barrier to its
last micro-batch done), median over --reps repetitions after one warm-up round. One JSON line
per (stages, M, mode), see common.py: config e.g. "4 stages, 64 x 64, sync", metric
samples_per_s, plus speedup_vs_1gpu when the S = 1 run of the same M was measured.
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def worker(rank, world, port, args, queue):
    import torch
    import torch.distributed as dist
    common.no_tf32(torch)
    if world > 1:
        common.init_group(torch, dist, rank, world, port)
    else:
        torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    H, L, MB = common.HIDDEN, common.LAYERS, args.micro
    per = L // world
    gen = torch.Generator(device=dev)
    ws = []
    for l in range(rank * per, (rank + 1) * per):
        gen.manual_seed(1000 + l)
        ws.append(torch.randn(H, H, device=dev, generator=gen) * math.sqrt(2.0 / H))

    def stage(x):
        for w in ws:
            x = torch.relu(x @ w)
        return x

    first, last = rank == 0, rank == world - 1
    Mmax = max(args.micro_batches)
    inputs = []
    if first:
        gen.manual_seed(7)
        inputs = [torch.randn(MB, H, device=dev, generator=gen) for _ in range(Mmax)]

    def run_sync(M):
        outs = []
        for k in range(M):
            if first:
                x = inputs[k]
            else:
                x = torch.empty(MB, H, device=dev)
                dist.recv(x, src=rank - 1)
            y = stage(x)
            if last:
                outs.append(y)
            else:
                dist.send(y, dst=rank + 1)
        return outs

    def run_async(M):
        outs, sends = [], []
        depth = max(1, args.inflight)
        bufs = [torch.empty(MB, H, device=dev) for _ in range(depth)] if not first else []
        reqs = {}
        if not first:
            for k in range(min(depth, M)):
                reqs[k] = dist.irecv(bufs[k % depth], src=rank - 1)
        for k in range(M):
            if first:
                x = inputs[k]
            else:
                reqs.pop(k).wait()
                x = bufs[k % depth]
            y = stage(x)
            if not first and k + depth < M:  # the buffer is reused after stage(x) was issued
                reqs[k + depth] = dist.irecv(bufs[(k + depth) % depth], src=rank - 1)
            if last:
                outs.append(y)
            else:
                sends.append(dist.isend(y, dst=rank + 1))
        for s in sends:
            s.wait()
        return outs

    results = []
    modes = args.modes if world > 1 else ["sync"]
    for M in args.micro_batches:
        for mode in modes:
            run = run_sync if mode == "sync" else run_async
            common.start_together(torch, dist)
            out = run(M)              # warm-up (and, for S > 1, NCCL's p2p setup)
            torch.cuda.synchronize()
            checksum = float(sum(o.double().sum().item() for o in out)) if last else None
            times = []
            for _ in range(args.reps):
                common.start_together(torch, dist)
                t0 = time.perf_counter()
                run(M)
                torch.cuda.synchronize()
                times.append(common.slowest(torch, dist, time.perf_counter() - t0))
            t = common.median(times)
            results.append({"M": M, "mode": mode, "seconds": t, "reps_s": times,
                            "checksum": checksum})
        if world == 1:  # the same rows as one batch
            xb = torch.cat(inputs[:M])
            stage(xb)
            torch.cuda.synchronize()
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                stage(xb)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            results.append({"M": M, "mode": "one batch", "seconds": common.median(times),
                            "reps_s": times, "checksum": None})
    if last:  # the last stage knows the outputs; the times are the same on every rank
        info = common.env_info(torch)
        for r in results:
            r["env"] = info
            queue.put(r)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stages", type=common.int_list, default=[1, 2, 4])
    ap.add_argument("--micro-batches", type=common.int_list, default=[16, 64])
    ap.add_argument("--micro", type=int, default=64)
    ap.add_argument("--inflight", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--modes", type=lambda s: [m for m in s.split(",") if m], default=["sync", "async"])
    ap.add_argument("--result", action="store_true", help="also print bench/run RESULT lines")
    args = ap.parse_args()
    for m in args.modes:
        if m not in ("sync", "async"):
            ap.error("unknown mode %r" % m)
    common.set_env()
    import torch
    import torch.multiprocessing as mp
    ngpu = torch.cuda.device_count()
    ctx = mp.get_context("spawn")
    base_rate = {}   # M -> single-GPU samples/s (micro-batches one after the other)
    failed = False
    for S in args.stages:
        if common.LAYERS % S:
            ap.error("--stages: %d does not divide %d layers" % (S, common.LAYERS))
        modes = ["sync"] if S == 1 else args.modes
        if S > ngpu:
            for M in args.micro_batches:
                for mode in modes:
                    common.emit({"workload": "W6", "program": "pytorch_pipeline",
                                 "config": "%d stages, %d x %d, %s" % (S, M, args.micro, mode),
                                 "metric": "samples_per_s", "value": None, "gpus": S,
                                 "note": "skipped: needs %d GPUs, %d here" % (S, ngpu)})
            continue
        common.progress("%d stage(s)" % S)
        queue = ctx.Queue()
        err = common.spawn(torch, worker, S, (S, common.free_port(), args, queue))
        got = []
        while True:
            try:
                got.append(queue.get(timeout=2))
            except Exception:  # queue.Empty: every result has been read
                break
        if err or not got:
            failed = True
            common.emit({"workload": "W6", "program": "pytorch_pipeline",
                         "config": "%d stages" % S, "metric": "samples_per_s", "value": None,
                         "gpus": S, "note": "failed: " + (err or "no result")})
            continue
        for r in got:
            M, rate = r["M"], r["M"] * args.micro / r["seconds"]
            if S == 1 and r["mode"] == "sync":
                base_rate[M] = rate
            if S == 1:
                config = ("1 GPU, %d x %d one after the other" % (M, args.micro) if r["mode"] == "sync"
                          else "1 GPU, one batch of %d" % (M * args.micro))
            else:
                config = "%d stages, %d x %d, %s" % (S, M, args.micro, r["mode"])
            rec = {"workload": "W6", "program": "pytorch_pipeline" if S > 1 else "pytorch_single",
                   "config": config, "metric": "samples_per_s", "value": rate,
                   "ms": 1000.0 * r["seconds"], "gpus": S, "stages": S, "micro_batches": M,
                   "micro": args.micro, "mode": r["mode"],
                   "inflight": args.inflight if r["mode"] == "async" else None,
                   "reps_s": [round(v, 6) for v in r["reps_s"]], "checksum": r["checksum"],
                   "tf32": False}
            if M in base_rate and r["mode"] != "one batch":
                rec["speedup_vs_1gpu"] = rate / base_rate[M]
            rec.update(r["env"])
            common.emit(rec, args.result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
