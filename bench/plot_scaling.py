#!/usr/bin/env python3
"""bench/plot_scaling.py — the W5 / W6 scaling figure of bench/RESULTS.md: samples/s over 1, 2
and 4 GPUs for daft and its peers (PyTorch DDP for W5; the PyTorch send/recv pipeline and
the single-GPU run for W6), with ideal linear scaling for reference.

  python3 bench/plot_scaling.py FILE.jsonl [FILE.jsonl ...] [-o scaling.png] [--svg out.svg]
                                [--micro-batches M] [--design-figures] [--label TEXT]
                                [--renderer auto|builtin]

The 4 x H100 figure of bench/RESULTS.md (bench/results/2026-11-27-4xH100-scaling.png) is
  python3 bench/plot_scaling.py bench/results/2026-11-27-4xH100-w567.jsonl \
      bench/results/2026-11-27-4xH100-w67-after-fix.jsonl --label "4 x H100" \
      -o bench/results/2026-11-27-4xH100-scaling.png
and after a new GPU run: bench/run --json rows.jsonl W5 W6, then this script on rows.jsonl.

Inputs (JSON Lines or RESULT lines; other lines and other workloads are ignored), any mix of:
  - RESULT lines as the programs print them (RESULT <tab> W5 <tab> program <tab> config <tab>
    metric <tab> value), e.g. the raw lines of a device call in bench/results/*.txt;
  - bench/run --json rows: {"id": "W5", "variant": "...", "value": V, "peer": P,
    "peer_value": PV, ...}: V is daft's figure, PV the peer's; the GPU count is read from the
    variant ("4 GPUs", "4 stages", "2 replicas", "GPUs=4", ...). Peer configs outside the
    figure are dropped (W5 "no DDP", W6 "one batch of ..."); a W6 "one after the other"
    row gives daft's 1-stage point (its value) and the single-GPU baseline (its peer_value);
  - the PyTorch peers' lines (bench/torch/*.py): {"workload": "W5", "program": "pytorch_ddp",
    "config": "...", "gpus": N, "metric": "samples_per_s", "value": V, ...}; a daft program
    may print the same form with "program": "daft".
Only samples/s figures are plotted. W6: the pipeline over S stages is plotted at S GPUs; its
1-GPU point is the single-GPU run of the same micro-batches ("pytorch_single" ... "one after
the other"), shared by every PyTorch pipeline series and drawn as a flat reference line;
daft's 1-GPU point is its own 1-stage run. With several micro-batch counts M, the largest one
with a daft figure (else the largest) is plotted unless --micro-batches says otherwise. A figure
given twice (same workload, series, GPUs, M) takes the value from the later file. W5 also gets
ideal linear scaling from daft's one GPU (else the peer's).
--design-figures adds DESIGN.md's PyTorch DDP figures (4 x H100: 46.9k / 68.1k / 133.8k).
--label TEXT (the machine, e.g. "4 x H100") is added to the panel titles.

Output: a PNG (matplotlib when it is installed, else a small built-in rasteriser with its own
5x7 font: no dependencies; it writes daft's figures next to its points), optionally an SVG,
and the plotted numbers as a table on stdout.
"""
import argparse
import json
import re
import struct
import sys
import zlib

DESIGN_DDP = {1: 46900.0, 2: 68100.0, 4: 133800.0}
BASE_NAME = "single GPU, PyTorch (same micro-batches)"
TITLES = {"W5": "W5 data-parallel training", "W6": "W6 pipeline inference"}
SUBTITLES = {"W5": "reference MLP, batch 256 per GPU", "W6": "reference MLP, micro-batches of 64"}


# ---------------------------------------------------------------- reading

def gpus_of(r, text):
    for k in ("gpus", "stages", "replicas", "tp"):
        if isinstance(r.get(k), int) and r[k] > 0:
            return r[k]
    m = re.search(r"(\d+)\s*(?:x\s*)?(?:GPUs?|gpus?|stages?|replicas?|ranks?)\b", text) or \
        re.search(r"(?:GPUs?|gpus?|stages?|replicas?|ranks?|n)\s*=\s*(\d+)", text)
    return int(m.group(1)) if m else None


def micro_of(r, text):
    if isinstance(r.get("micro_batches"), int):
        return r["micro_batches"]
    m = re.search(r"(\d+)\s*x\s*\d+", text)
    return int(m.group(1)) if m else None


def series_name(wid, prog, r, text):
    if prog == "daft":  # (pp_mlp's streamed rounds, never drained, are a series of their own)
        return "daft, streamed" if "streamed" in text else "daft"
    if prog == "pytorch_ddp":
        return "PyTorch DDP"
    if prog == "pytorch_pipeline":
        mode = r.get("mode") or ("async" if "async" in text else "sync")
        return "PyTorch send/recv (%s)" % mode
    return prog


def result_line(line):
    """A RESULT line (bench/run's format, as the programs print them and device_run.sh keeps
    them): RESULT <tab> workload <tab> program <tab> config <tab> metric <tab> value -> the
    same dict as a peer's JSON line, or None."""
    f = line.rstrip("\n").split("\t")
    if len(f) < 6:
        return None
    try:
        return {"workload": f[1], "program": f[2], "config": f[3], "metric": f[4], "value": float(f[5])}
    except ValueError:
        return None


def read(paths):
    """-> list of (workload, series, gpus, M or None, value, kind); kind: 'point' or
    'w6base' (W6 single-GPU run: the 1-GPU point of every W6 series)."""
    pts = []
    for path in paths:
        with open(path) as f:
            for line in f:
                r = result_line(line) if line.startswith("RESULT\t") else None
                line = line.strip()
                if r is None and not line.startswith("{"):
                    continue
                try:
                    r = r or json.loads(line)
                except ValueError:
                    continue
                wid = r.get("workload") or r.get("id")
                if wid not in ("W5", "W6"):
                    continue
                text = " ".join(str(r.get(k, "")) for k in ("config", "variant", "metric", "unit"))
                if "samples" not in text and r.get("metric") != "samples_per_s":
                    continue
                if "host_io" in text:  # the examples' driver-fed form: not the peers' setting
                    continue
                n = gpus_of(r, text)
                M = micro_of(r, text)
                if "program" in r:
                    v = r.get("value")
                    if v is None:
                        continue
                    prog = r["program"]
                    if prog.startswith("daft_"):  # (variants such as daft_sharded: not in the figure)
                        continue
                    if prog == "pytorch_single":
                        if wid == "W6" and "one after the other" in text:
                            pts.append((wid, None, 1, M, float(v), "w6base"))
                        continue   # "no DDP" / "one batch": not part of the scaling figure
                    if n:
                        pts.append((wid, series_name(wid, prog, r, text), n, M, float(v), "point"))
                else:  # a bench/run row: daft's value and the peer's
                    if not n:
                        continue
                    variant = str(r.get("variant", ""))
                    # bench/run pairs every config a peer prints, also those outside the
                    # scaling figure: PyTorch without DDP, the single GPU on one big batch.
                    if (wid == "W5" and "no DDP" in variant) or \
                            (wid == "W6" and "one batch" in variant):
                        continue
                    base = wid == "W6" and "one after the other" in variant
                    if r.get("value") is not None:   # daft's own 1-stage run stays daft's
                        pts.append((wid, series_name(wid, "daft", r, text), n, M, float(r["value"]), "point"))
                    if r.get("peer_value") is not None:
                        if base:
                            pts.append((wid, None, 1, M, float(r["peer_value"]), "w6base"))
                        else:
                            pts.append((wid, series_name(wid, str(r.get("peer") or "peer"), r, text),
                                        n, M, float(r["peer_value"]), "point"))
    return pts


def build(pts, want_M, design):
    """-> {wid: {series: {gpus: value}}}"""
    out = {"W5": {}, "W6": {}}
    Ms = sorted({p[3] for p in pts if p[0] == "W6" and p[3] is not None})
    Ms_daft = sorted({p[3] for p in pts if p[0] == "W6" and p[1] == "daft" and p[3] is not None})
    M = want_M if want_M is not None else (Ms_daft[-1] if Ms_daft else (Ms[-1] if Ms else None))
    base = None
    for wid, name, n, m, v, kind in pts:
        if wid == "W6" and M is not None and m is not None and m != M:
            continue
        if kind == "w6base":
            base = v
            continue
        out[wid].setdefault(name, {})[n] = v
    own = out["W6"].get("daft", {}).get(1)  # daft's 1-stage run: every daft series' start
    for name, s in out["W6"].items():
        if name.startswith("daft") and own is not None:
            s.setdefault(1, own)
    if base is not None:
        for name, s in out["W6"].items():
            s.setdefault(1, base)
        out["W6"].setdefault(BASE_NAME, {})
        out["W6"][BASE_NAME].update({1: base, 4: base})
    if design:
        out["W5"]["PyTorch DDP, DESIGN.md (4 x H100)"] = dict(DESIGN_DDP)
    # W5: ideal linear scaling from daft's one GPU (else the peer's). W6 has none: its
    # reference is the single-GPU run (the target is a multiple of it, DESIGN.md).
    ref, who = out["W5"].get("daft"), "daft"
    if not ref or 1 not in ref:
        who, ref = next(((k, s) for k, s in out["W5"].items() if k.startswith("PyTorch")), (None, None))
    if ref and 1 in ref:
        out["W5"]["ideal (N x %s on 1 GPU)" % who] = {n: ref[1] * n for n in (1, 2, 4)}
    return out, M


# ---------------------------------------------------------------- built-in PNG renderer

FONT = {  # 5x7 glyphs, rows top to bottom, '#' = ink
    " ": ["     "] * 7,
    "0": [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
    "1": ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
    "2": [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
    "3": ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
    "4": ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
    "5": ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
    "6": ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
    "7": ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
    "8": [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
    "9": [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
    "A": [" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
    "B": ["#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "],
    "C": [" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "],
    "D": ["#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "],
    "E": ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"],
    "F": ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "],
    "G": [" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"],
    "H": ["#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
    "I": [" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
    "J": ["  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "],
    "K": ["#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"],
    "L": ["#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"],
    "M": ["#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"],
    "N": ["#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"],
    "O": [" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
    "P": ["#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "],
    "Q": [" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"],
    "R": ["#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"],
    "S": [" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "],
    "T": ["#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "],
    "U": ["#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
    "V": ["#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "],
    "W": ["#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "],
    "X": ["#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"],
    "Y": ["#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "],
    "Z": ["#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"],
    ".": ["     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "],
    ",": ["     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "],
    ":": ["     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "],
    "/": ["    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "],
    "(": ["   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "],
    ")": [" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "],
    "-": ["     ", "     ", "     ", "#####", "     ", "     ", "     "],
    "+": ["     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "],
    "=": ["     ", "     ", "#####", "     ", "#####", "     ", "     "],
    "%": ["##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"],
    "'": ["  #  ", "  #  ", " #   ", "     ", "     ", "     ", "     "],
    "_": ["     ", "     ", "     ", "     ", "     ", "     ", "#####"],
    "?": [" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "],
}

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
          (140, 86, 75), (227, 119, 194)]
GREY = (150, 150, 150)


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def set(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def rect(self, x0, y0, x1, y1, c):
        for y in range(max(0, y0), min(self.h, y1 + 1)):
            for x in range(max(0, x0), min(self.w, x1 + 1)):
                self.set(x, y, c)

    def line(self, x0, y0, x1, y1, c, width=1, dash=0):
        x0, y0, x1, y1 = int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, k = dx + dy, 0
        r = width // 2
        while True:
            if not dash or (k // dash) % 2 == 0:
                self.rect(x0 - r, y0 - r, x0 - r + width - 1, y0 - r + width - 1, c)
            if x0 == x1 and y0 == y1:
                break
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy
            k += 1

    def disc(self, cx, cy, r, c):
        for y in range(-r, r + 1):
            for x in range(-r, r + 1):
                if x * x + y * y <= r * r + r:
                    self.set(int(cx) + x, int(cy) + y, c)

    def text(self, x, y, s, c=(0, 0, 0), scale=2, anchor="left"):
        wpx = len(s) * 6 * scale
        if anchor == "center":
            x -= wpx // 2
        elif anchor == "right":
            x -= wpx
        for i, ch in enumerate(s):
            g = FONT.get(ch.upper(), FONT["?"])
            for row, bits in enumerate(g):
                for col, b in enumerate(bits):
                    if b == "#":
                        self.rect(x + (i * 6 + col) * scale, y + row * scale,
                                  x + (i * 6 + col) * scale + scale - 1, y + row * scale + scale - 1, c)

    def png(self):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3])
                       for y in range(self.h))

        def chunk(t, d):
            return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def nice_max(v):
    if v <= 0:
        return 1.0
    e = 10 ** len(str(int(v))) / 10.0
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v * 1.05:
            return m * e
    return 10 * e


def fmt_k(v):
    return "%gk" % round(v / 1000.0, 1) if v >= 1000 else "%g" % v


def style(name, i):
    if name.startswith("ideal") or name.startswith("single GPU"):
        return GREY, 6
    if "DESIGN" in name:
        return COLORS[(i % len(COLORS))], 4
    return COLORS[i % len(COLORS)], 0


def title(wid, label):
    return TITLES[wid] + (", " + label if label else "")


def subtitle(wid, M):
    return SUBTITLES[wid] + (", %d in a run" % M if wid == "W6" and M else "")


def render_builtin(data, M, path, label=None):
    W, H = 1400, 700
    cv = Canvas(W, H)
    for p, wid in enumerate(("W5", "W6")):
        ox, oy, pw, ph = 90 + p * 700, 92, 560, 380
        cv.text(ox + pw // 2, 8, title(wid, label)[:36], scale=3, anchor="center")
        cv.text(ox + pw // 2, 38, subtitle(wid, M)[:52], scale=2, anchor="center")
        series = data[wid]
        vals = [v for s in series.values() for v in s.values()]
        ymax = nice_max(max(vals)) if vals else 1.0
        cv.line(ox, oy, ox, oy + ph, (0, 0, 0), 2)
        cv.line(ox, oy + ph, ox + pw, oy + ph, (0, 0, 0), 2)
        xs = {1: ox + 40, 2: ox + 40 + (pw - 80) // 3, 4: ox + pw - 40}
        for n, x in xs.items():
            cv.line(x, oy + ph, x, oy + ph + 6, (0, 0, 0), 2)
            cv.text(x, oy + ph + 12, str(n), anchor="center")
        cv.text(ox + pw // 2, oy + ph + 36, "GPUS" if wid == "W5" else "GPUS (PIPELINE STAGES)", anchor="center")
        for k in range(6):
            v = ymax * k / 5
            y = oy + ph - int(ph * k / 5)
            cv.line(ox - 6, y, ox, y, (0, 0, 0), 2)
            if k:
                cv.line(ox + 1, y, ox + pw, y, (225, 225, 225), 1)
            cv.text(ox - 10, y - 7, fmt_k(v), anchor="right")
        cv.text(ox - 80, oy - 24, "SAMPLES/S", scale=2)
        if not series:
            cv.text(ox + pw // 2, oy + ph // 2, "NO DATA", anchor="center")
        ly = oy + ph + 60
        for i, (name, s) in enumerate(sorted(series.items(), key=lambda kv: kv[0] != "daft")):
            col, dash = style(name, i)
            pts = sorted((n, v) for n, v in s.items() if n in xs)
            for (n0, v0), (n1, v1) in zip(pts, pts[1:]):
                cv.line(xs[n0], oy + ph - ph * v0 / ymax, xs[n1], oy + ph - ph * v1 / ymax, col, 3, dash)
            if not name.startswith("ideal") and not name.startswith("single GPU"):
                for n, v in pts:
                    cv.disc(xs[n], oy + ph - ph * v / ymax, 5, col)
                    if name == "daft":   # daft's figures, written under its points
                        cv.text(xs[n] + 8, int(oy + ph - ph * v / ymax) + 8, fmt_k(v), col)
            lx, yy = ox, ly + i * 24
            cv.line(lx, yy + 7, lx + 30, yy + 7, col, 3, dash)
            cv.text(lx + 38, yy, name[:42], scale=2)
    with open(path, "wb") as f:
        f.write(cv.png())


def render_matplotlib(data, M, path, label=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    for ax, wid in zip(axes, ("W5", "W6")):
        for i, (name, s) in enumerate(sorted(data[wid].items(), key=lambda kv: kv[0] != "daft")):
            pts = sorted(s.items())
            ls = "--" if name.startswith(("ideal", "single GPU")) else ("-." if "DESIGN" in name else "-")
            col = "0.6" if name.startswith(("ideal", "single GPU")) else None
            ax.plot([p[0] for p in pts], [p[1] for p in pts], ls, marker=None if ls == "--" else "o",
                    color=col, label=name)
        ax.set_title("%s\n%s" % (title(wid, label), subtitle(wid, M)),
                     fontsize=10)
        ax.set_xticks([1, 2, 4])
        ax.set_xlabel("GPUs" if wid == "W5" else "GPUs (pipeline stages)")
        ax.set_ylabel("samples/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def render_svg(data, M, path, label=None):
    W, H = 1400, 700
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    hexc = lambda c: "#%02x%02x%02x" % c  # noqa: E731
    for p, wid in enumerate(("W5", "W6")):
        ox, oy, pw, ph = 90 + p * 700, 70, 560, 380
        series = data[wid]
        vals = [v for s in series.values() for v in s.values()]
        ymax = nice_max(max(vals)) if vals else 1.0
        xs = {1: ox + 40, 2: ox + 40 + (pw - 80) // 3, 4: ox + pw - 40}
        out.append('<text x="%d" y="30" text-anchor="middle" font-size="15">%s (%s)</text>' %
                   (ox + pw // 2, title(wid, label), subtitle(wid, M)))
        out.append('<path d="M%d %d V%d H%d" stroke="black" fill="none"/>' % (ox, oy, oy + ph, ox + pw))
        for n, x in xs.items():
            out.append('<text x="%d" y="%d" text-anchor="middle" font-size="13">%d</text>' % (x, oy + ph + 20, n))
        for k in range(6):
            y = oy + ph - ph * k / 5
            out.append('<text x="%d" y="%.1f" text-anchor="end" font-size="12">%s</text>' % (ox - 8, y + 4, fmt_k(ymax * k / 5)))
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (ox, ox + pw, y, y))
        out.append('<text x="%d" y="%d" text-anchor="middle" font-size="13">%s</text>' %
                   (ox + pw // 2, oy + ph + 42, "GPUs" if wid == "W5" else "GPUs (pipeline stages)"))
        for i, (name, s) in enumerate(sorted(series.items(), key=lambda kv: kv[0] != "daft")):
            col, dash = style(name, i)
            pts = sorted((n, v) for n, v in s.items() if n in xs)
            d = " ".join("%s%.1f %.1f" % ("M" if j == 0 else "L", xs[n], oy + ph - ph * v / ymax)
                         for j, (n, v) in enumerate(pts))
            out.append('<path d="%s" stroke="%s" stroke-width="2.5" fill="none"%s/>' %
                       (d, hexc(col), ' stroke-dasharray="8 6"' if dash else ""))
            lx, ly = ox, oy + ph + 70 + i * 20
            out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2.5"/>' % (lx, lx + 30, ly, ly, hexc(col)))
            out.append('<text x="%d" y="%d" font-size="12">%s</text>' % (lx + 36, ly + 4, name))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("-o", "--output", default="scaling.png")
    ap.add_argument("--svg")
    ap.add_argument("--micro-batches", type=int)
    ap.add_argument("--design-figures", action="store_true")
    ap.add_argument("--renderer", choices=("auto", "builtin", "matplotlib"), default="auto")
    ap.add_argument("--label", help="machine or run, added to the subtitles (e.g. '4 x H100')")
    args = ap.parse_args()
    data, M = build(read(args.inputs), args.micro_batches, args.design_figures)
    for wid in ("W5", "W6"):
        print("%s%s" % (wid, " (M = %d micro-batches)" % M if wid == "W6" and M else ""))
        if not data[wid]:
            print("  (no samples/s figures)")
        for name, s in sorted(data[wid].items()):
            print("  %-36s %s" % (name, "  ".join("%d GPU%s: %.0f" % (n, "" if n == 1 else "s", v)
                                                    for n, v in sorted(s.items()))))
    used = "builtin"
    if args.renderer in ("auto", "matplotlib"):
        try:
            render_matplotlib(data, M, args.output, args.label)
            used = "matplotlib"
        except ImportError:
            if args.renderer == "matplotlib":
                raise
    if used == "builtin":
        render_builtin(data, M, args.output, args.label)
    print("wrote %s (%s)" % (args.output, used))
    if args.svg:
        render_svg(data, M, args.svg, args.label)
        print("wrote %s" % args.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
