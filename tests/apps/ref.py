#!/usr/bin/env python3
"""tests/apps/ref.py — independent reference outputs for the application examples.

  python3 tests/apps/ref.py NAME          print the expected output of examples/NAME.daft
  python3 tests/apps/ref.py --write       rewrite tests/apps/NAME.expected for every app
  python3 tests/apps/ref.py --check       exit 1 if an .expected file is out of date
  python3 tests/apps/ref.py --selftest    randn known answers (also run by --check)

Nothing here runs daft. The only thing shared with daft is the *specification* of
std.tensor.randn (include/daft/std.h, "random numbers": Philox4x32-10 plus Box-Muller from
fixed + - * / sqrt sequences), re-implemented below from that text, so the inputs and
initial weights are bit-identical f32 values. Everything after that (the unsharded /
sequential models, the single-process training on the concatenated batch, the KV caches,
the RL loop) is plain Python in double precision; the programs compute in f32, so
compare.py compares numbers with a relative tolerance.

The sizes and seeds below must match the constants at the top of each example.
Pure Python, no numpy: the CI sizes are small (HIDDEN 64 and below).
"""
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
M32 = 0xFFFFFFFF


# ---------------------------------------------------------------- randn (std.h spec)

def philox4x32_10(c, k):
    c0, c1, c2, c3 = c
    k0, k1 = k
    for r in range(10):
        if r > 0:
            k0 = (k0 + 0x9E3779B9) & M32
            k1 = (k1 + 0xBB67AE85) & M32
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32)
    return c0, c1, c2, c3


def _ln_u(n):
    """ln(n * 2^-32) for n in [1, 2^32], the exact operation sequence of std_rng.h."""
    e = n.bit_length() - 1
    m = float(n) * 2.0 ** -32
    for _ in range(e, 32):
        m = m * 2.0
    for _ in range(32, e):
        m = m * 0.5
    if m > 1.4142135623730951:
        m = m * 0.5
        e += 1
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 1.0 / 21.0
    for d in (19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0):
        p = p * s2 + 1.0 / d
    p = p * s2 + 1.0
    ln_m = (2.0 * s) * p
    return float(e - 32) * 0.69314718055994530942 + ln_m


_SIN = [121645100408832000.0, 355687428096000.0, 1307674368000.0, 6227020800.0,
        39916800.0, 362880.0, 5040.0, 120.0, 6.0]
_COS = [2432902008176640000.0, 6402373705728000.0, 20922789888000.0, 87178291200.0,
        479001600.0, 3628800.0, 40320.0, 720.0, 24.0, 2.0]


def _sincos_q(t):
    t2 = t * t
    s = 1.0 / _SIN[0]
    for f in _SIN[1:]:
        s = 1.0 / f - s * t2
    s = 1.0 - s * t2
    c = 1.0 / _COS[0]
    for f in _COS[1:]:
        c = 1.0 / f - c * t2
    c = 1.0 - c * t2
    return s * t, c


def f32(x):
    """Round a double to the nearest f32 (returned as a Python float)."""
    return struct.unpack("f", struct.pack("f", x))[0]


_RANDN_CACHE = {}


def randn_flat(n, seed):
    key = (n, seed)
    if key in _RANDN_CACHE:
        return _RANDN_CACHE[key]
    s = seed & 0xFFFFFFFFFFFFFFFF
    k = (s & M32, s >> 32)
    out = []
    for j in range((n + 1) // 2):
        x = philox4x32_10((j & M32, j >> 32, 1, 0), k)
        r = math.sqrt(-2.0 * _ln_u(x[0] + 1))
        q = x[1] >> 30
        theta = (float(x[1] & 0x3FFFFFFF) * 2.0 ** -30) * 1.5707963267948966
        sn, cs = _sincos_q(theta)
        cphi, sphi = ((cs, sn), (-sn, cs), (-cs, -sn), (sn, -cs))[q]
        out.append(f32(r * cphi))
        if 2 * j + 1 < n:
            out.append(f32(r * sphi))
    _RANDN_CACHE[key] = out
    return out


def randn(rows, cols, seed):
    flat = randn_flat(rows * cols, seed)
    return [flat[i * cols:(i + 1) * cols] for i in range(rows)]


# ---------------------------------------------------------------- dense math (double)

def matmul(a, b):
    bt = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in bt] for row in a]


def transpose(a):
    return [list(r) for r in zip(*a)]


def relu(a):
    return [[x if x > 0 else 0.0 for x in r] for r in a]


def relu_backward(y, gy):
    return [[g if v > 0 else 0.0 for v, g in zip(ry, rg)] for ry, rg in zip(y, gy)]


def scale(a, k):
    return [[x * k for x in r] for r in a]


def axpy(a, x, y):
    """a * x + y elementwise."""
    return [[a * u + v for u, v in zip(rx, ry)] for rx, ry in zip(x, y)]


def add(x, y):
    return axpy(1.0, x, y)


def total(a):
    return sum(sum(r) for r in a)


def sumsq(a):
    return sum(sum(x * x for x in r) for r in a)


def mse(pred, target):
    n = len(pred) * len(pred[0])
    return sum((p - t) ** 2 for rp, rt in zip(pred, target) for p, t in zip(rp, rt)) / n


def mse_grad(pred, target):
    n = len(pred) * len(pred[0])
    return [[2.0 * (p - t) / n for p, t in zip(rp, rt)] for rp, rt in zip(pred, target)]


def linear_backward(x, w, gy):
    return matmul(gy, transpose(w)), matmul(transpose(x), gy)


def rows(a, lo, hi):
    return a[lo:hi]


def cols(a, lo, hi):
    return [r[lo:hi] for r in a]


# ---------------------------------------------------------------- daft print formats

def g(x):
    """print's form of an f64 (C %g)."""
    s = "%g" % x
    return "0" if s == "-0" else s


def gl(xs):
    return "[" + ", ".join(g(x) for x in xs) + "]"


def tensor_display(a):
    flat = [x for r in a for x in r]
    body = ", ".join(g(x) for x in flat[:6]) + (", ..." if len(flat) > 6 else "")
    return "tensor<f32, [%d, %d]> [%s]" % (len(a), len(a[0]), body)


# ---------------------------------------------------------------- the reference MLP

def mlp_weight(hidden, l):
    # layer_weight(l) of tp_mlp / pp_mlp / dp_train_overlap: randn * sqrt(2 / HIDDEN)
    return scale(randn(hidden, hidden, 1000 + l), math.sqrt(2.0 / hidden))


def mlp_forward(ws, x):
    h = x
    for w in ws:
        h = relu(matmul(h, w))
    return h


def out_line(prefix, y):
    return "%s sum %s sumsq %s row0 %s" % (prefix, g(total(y)), g(sumsq(y)), tensor_display(y[:1]))


# ---------------------------------------------------------------- the applications

def tp_mlp():
    HIDDEN, LAYERS, BATCH, FORWARDS = 64, 8, 8, 3
    ws = [mlp_weight(HIDDEN, l) for l in range(LAYERS)]
    ys = [mlp_forward(ws, randn(BATCH, HIDDEN, 7 + i)) for i in range(FORWARDS)]
    # the forwards, then the same inputs run resident (the sums of the kept outputs)
    return ([out_line("forward %d" % i, y) for i, y in enumerate(ys)] +
            ["resident forward %d sum %s" % (i, g(total(y))) for i, y in enumerate(ys)])


def pp_mlp():
    HIDDEN, LAYERS, MICRO, MICRO_BATCHES = 64, 8, 4, 8
    ws = [mlp_weight(HIDDEN, l) for l in range(LAYERS)]
    ys = [mlp_forward(ws, randn(MICRO, HIDDEN, 7 + mb)) for mb in range(MICRO_BATCHES)]
    # the pipelined outputs, then the same micro-batches run resident (their sums)
    return ([out_line("micro-batch %d" % mb, y) for mb, y in enumerate(ys)] +
            ["resident micro-batch %d sum %s" % (mb, g(total(y)))
             for mb, y in enumerate(ys)])


def pd_transfer():
    HIDDEN, KV, REQUESTS, PREFILL, DECODE, STEPS = 32, 16, 10, 2, 2, 3
    wk = scale(randn(HIDDEN, KV, 11), 0.25)
    wv = scale(randn(HIDDEN, KV, 12), 0.25)
    pload = [0] * PREFILL
    dload = [0] * DECODE
    caches = [[] for _ in range(DECODE)]
    lines = []
    for r in range(REQUESTS):
        n = 4 + (r * 7) % 13
        p = min(range(PREFILL), key=lambda i: (pload[i], i))
        d = min(range(DECODE), key=lambda i: (dload[i], i))
        lines.append("route request %d prompt %d prefill %d decode %d" % (r, n, p, d))
        x = randn(n, HIDDEN, 5000 + r)
        kv = [a + b for a, b in zip(matmul(x, wk), matmul(x, wv))]
        pload[p] += n
        dload[d] += n
        caches[d].append(kv)
        lines.append("kv request %d arrived %s" % (r, gl([n, total(kv), sumsq(kv)])))
    for step in range(STEPS):
        q = randn(KV, 1, 9000 + step)
        outs = []
        for d in range(DECODE):
            s = 0.0
            for kv in caches[d]:
                k, v = cols(kv, 0, KV), cols(kv, KV, 2 * KV)
                att = relu(matmul(k, q))                    # [rows, 1]
                s += total(matmul(transpose(v), att))       # [KV, 1]
            outs.append(s)
        lines.append("decode step %d %s" % (step, gl(outs)))
    return lines


def dp_train_overlap(timed=None):
    # timed = (warmup, iters): DAFT_APP_TIMING=1's steps after the printed ones, each replica
    # on its fixed batch randn([BATCH, HIDDEN], 5000 + rank); the last one's loss is printed
    HIDDEN, LAYERS, BATCH, REPLICAS, STEPS, LR = 32, 8, 8, 2, 6, 0.5
    ws = [mlp_weight(HIDDEN, l) for l in range(LAYERS)]
    target = randn(REPLICAS * BATCH, HIDDEN, 99)
    fixed = [row for r in range(REPLICAS) for row in randn(BATCH, HIDDEN, 5000 + r)]
    lines = []
    for step in range(STEPS + (sum(timed) if timed else 0)):
        x = randn(REPLICAS * BATCH, HIDDEN, 2000 + step)   # the concatenated batch
        if step >= STEPS:
            x = fixed
        acts, h = [], x
        for w in ws:
            acts.append(h)
            h = relu(matmul(h, w))
        if step < STEPS:
            lines.append("step %d loss %s" % (step, g(mse(h, target))))
        elif step == STEPS + sum(timed) - 1:
            lines.append("timed step %d loss %s" % (step, g(mse(h, target))))
        gy, y = mse_grad(h, target), h
        grads = [None] * LAYERS
        for l in reversed(range(LAYERS)):
            gz = relu_backward(y, gy)
            gy, grads[l] = linear_backward(acts[l], ws[l], gz)
            y = acts[l]
        ws = [axpy(-LR, gw, w) for w, gw in zip(ws, grads)]
    return lines


def rl():
    HIDDEN, GENERATORS, KEEP, ROLLOUT, ITERS, STEPS, LR, NOISE = 16, 3, 2, 8, 4, 2, 0.2, 0.3
    ws = [scale(randn(HIDDEN, HIDDEN, 300 + l), math.sqrt(2.0 / HIDDEN)) for l in range(2)]
    teacher = scale(randn(HIDDEN, HIDDEN, 400), math.sqrt(1.0 / HIDDEN))
    lines = []

    def policy(w, obs):
        return matmul(relu(matmul(obs, w[0])), w[1])

    for it in range(ITERS):
        rollouts, rewards = [], []
        for gi in range(GENERATORS):
            obs = randn(ROLLOUT, HIDDEN, 10000 + 100 * it + gi)
            noise = randn(ROLLOUT, HIDDEN, 20000 + 100 * it + gi)
            act = axpy(NOISE, noise, policy(ws, obs))
            rollouts.append((obs, act))
            rewards.append(-mse(act, matmul(obs, teacher)))
        kept = sorted(range(GENERATORS), key=lambda i: (-rewards[i], i))[:KEEP]
        lines.append("iter %d rewards %s kept %s" % (it, gl(rewards), "[" + ", ".join(map(str, kept)) + "]"))
        obs = [r for i in kept for r in rollouts[i][0]]
        act = [r for i in kept for r in rollouts[i][1]]
        losses = []
        for _ in range(STEPS):
            z = matmul(obs, ws[0])
            h = relu(z)
            y = matmul(h, ws[1])
            losses.append(mse(y, act))
            gy = mse_grad(y, act)
            gh, gw1 = linear_backward(h, ws[1], gy)
            _, gw0 = linear_backward(obs, ws[0], relu_backward(z, gh))
            ws = [axpy(-LR, gw0, ws[0]), axpy(-LR, gw1, ws[1])]
        lines.append("iter %d losses %s weights %s synced %s" % (
            it, gl(losses), g(sumsq(ws[0]) + sumsq(ws[1])), gl([0.0] * GENERATORS)))
    return lines


APPS = {"tp_mlp": tp_mlp, "pp_mlp": pp_mlp, "pd_transfer": pd_transfer,
        "dp_train_overlap": dp_train_overlap,
        "dp_train_sharded": dp_train_overlap,  # the same training, its optimizer sharded
        # DAFT_APP_TIMING=1 DAFT_APP_WARMUP=2 DAFT_APP_ITERS=3 (the losses kept on the GPU)
        "dp_train_overlap_timed": lambda: dp_train_overlap(timed=(2, 3)),
        "rl": rl}


def selftest():
    # Random123 kat_vectors, philox4x32 10 rounds
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)
    assert philox4x32_10((M32, M32, M32, M32), (M32, M32)) == \
        (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)
    assert philox4x32_10((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344),
                         (0xa4093822, 0x299f31d0)) == (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)
    # the series agree with libm closely
    for n in (1, 2, 12345, 2 ** 31, 2 ** 32):
        assert abs(_ln_u(n) - math.log(n * 2.0 ** -32)) < 1e-13
    for t in (0.0, 0.3, 1.0, 1.5707):
        s, c = _sincos_q(t)
        assert abs(s - math.sin(t)) < 1e-15 and abs(c - math.cos(t)) < 1e-15


def main(argv):
    selftest()
    if argv[1:2] == ["--selftest"]:
        print("ok")
        return 0
    if argv[1:2] in (["--write"], ["--check"]):
        stale = 0
        for name, fn in APPS.items():
            text = "\n".join(fn()) + "\n"
            path = os.path.join(HERE, name + ".expected")
            if argv[1] == "--write":
                with open(path, "w") as f:
                    f.write(text)
            else:
                old = open(path).read() if os.path.exists(path) else None
                if old != text:
                    print("%s is out of date (python3 tests/apps/ref.py --write)" % path)
                    stale = 1
        return stale
    if len(argv) == 2 and argv[1] in APPS:
        print("\n".join(APPS[argv[1]]()))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
