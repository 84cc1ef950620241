#!/usr/bin/env python3
"""Side-by-side training benchmark: our trainer (`ae-train`) against PyTorch
on the CPU (Debian's python3-torch), same architecture (read from the model
file ae-train writes), same batch, patch size, loss (MSE), optimiser (Adam,
gradient-norm clipping at 1) and thread count, on the same images.

Throughput is samples per second over --steps optimiser steps after
--warmup steps, so neither side's start-up counts:
  ours     wall time between ae-train's progress lines for step `warmup` and
           step `warmup + steps` (--log-every 1; it runs one step more so
           the final validation is not timed; data loading happens before
           the first step, its loader threads keep running in the background
           as in real training);
  PyTorch  forward + loss + backward + clipping + Adam step, on batches drawn
           from a pool of patches prepared beforehand (so data preparation
           is not timed), in the faster of two memory layouts measured each
           time (a short probe of each, then the faster one timed):
           contiguous NCHW and channels_last.
The PyTorch side runs in a child process with OMP_NUM_THREADS and
MKL_NUM_THREADS set and torch.set_num_threads(T). On a machine that other
processes keep busy, OpenMP's default wait policy (spin, then sleep) stalls
PyTorch badly at 2 threads, and OMP_WAIT_POLICY=PASSIVE is several times
faster; with more than one thread both are tried on the first run of a row
and the faster is kept. Rows are medians of --repeats runs, ours and
PyTorch alternating.

Needs: scripts/deps.sh --bench (python3-torch, python3-numpy).
Usage:
  /usr/bin/python3 bench/bench-train.py [--ae-train build/tools/ae-train]
      [--presets dn-fast,dn-unet,sr-fast,ae-bottleneck] [--threads 1,2]
      [--steps 30] [--warmup 5] [--batch 16] [--patch 64] [--repeats 3]
      [--data ../shared/data/train400]
"""
import argparse
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "data"))
import gen_fixtures as gf  # noqa: E402

POOL = 256          # prepared patches PyTorch samples its batches from
MAX_IMAGES = 64     # images decoded for that pool
PROBE_STEPS = 4     # timed steps per memory layout to pick PyTorch's faster


# ---------------------------------------------------------------------------
# Images (8-bit PNG, stdlib + numpy: no imaging library needed)

def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png_luma(path):
    """8-bit non-interlaced grey, grey+alpha, RGB or RGBA PNG -> uint8 HxW
    (BT.601 Y' for colour, as ae-train's luma)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or bpp is None or interlace:
        raise ValueError("%s: only 8-bit non-interlaced, non-palette PNGs" % path)
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    img = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        off = y * (stride + 1)
        ft = raw[off]
        line = np.frombuffer(raw, np.uint8, stride, off + 1).astype(np.int64)
        if ft == 0:
            cur = line
        elif ft == 1:
            cur = line.reshape(w, bpp).cumsum(0).reshape(-1) & 255
        elif ft == 2:
            cur = (line + prev) & 255
        else:
            c, up = line.tolist(), prev.tolist()
            for i in range(stride):
                left = c[i - bpp] if i >= bpp else 0
                if ft == 3:
                    c[i] = (c[i] + ((left + up[i]) >> 1)) & 255
                else:
                    ul = up[i - bpp] if i >= bpp else 0
                    c[i] = (c[i] + paeth(left, up[i], ul)) & 255
            cur = np.array(c, np.int64)
        img[y] = cur
        prev = cur
    img = img.reshape(h, w, bpp)
    if bpp >= 3:
        y = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return img[..., 0].copy()


def patch_pool(folder, task, patch, scale, rng):
    """POOL (input, target) float pairs in [0, 1], NCHW, degraded for the
    task as ae-train does in spirit (its exact noise model does not change
    the cost of a training step)."""
    import torch
    import torch.nn.functional as F
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    if not names:
        sys.exit("no PNG images in " + folder)
    pick = names[::max(1, len(names) // MAX_IMAGES)][:MAX_IMAGES]
    images = [read_png_luma(os.path.join(folder, n)) for n in pick]
    clean = np.empty((POOL, 1, patch, patch), np.float32)
    for i in range(POOL):
        im = images[rng.randint(len(images))]
        y, x = rng.randint(im.shape[0] - patch + 1), rng.randint(im.shape[1] - patch + 1)
        clean[i, 0] = im[y:y + patch, x:x + patch] / 255.0
    target = torch.from_numpy(clean)
    if task == "denoise":
        sigma = rng.uniform(0, 55, (POOL, 1, 1, 1)) / 255.0
        noisy = clean + rng.standard_normal(clean.shape) * sigma
        inp = torch.from_numpy((np.rint(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32))
    elif task == "superres":
        inp = F.interpolate(target, scale_factor=1.0 / scale, mode="bicubic",
                            align_corners=False, antialias=True).clamp(0, 1)
    else:
        inp = target.clone()
    return inp, target


# ---------------------------------------------------------------------------
# PyTorch side

def torch_steps(net, opt, inp, target, batch, n, fmt, gen):
    """Seconds for @n full training steps."""
    import torch
    import torch.nn.functional as F
    t0 = time.perf_counter()
    for _ in range(n):
        idx = torch.randint(inp.shape[0], (batch,), generator=gen)
        x = inp[idx].contiguous(memory_format=fmt)
        y = target[idx].contiguous(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(net(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if not torch.isfinite(loss):
            sys.exit("PyTorch loss became %g" % loss.item())
    return time.perf_counter() - t0


def torch_child(a):
    """Runs in its own process (thread settings fixed before torch starts).
    Warms up both memory layouts, times --probe steps of each, then --steps
    of the faster; prints one JSON line {layout, rate}."""
    import copy
    import torch
    torch.set_num_threads(a.threads_one)
    net, g = gf.torch_module(a.model)
    inp, target = patch_pool(a.data, g["task"], a.patch, g.get("scale", 1),
                             np.random.RandomState(a.seed))
    with torch.no_grad():
        out = net(inp[:1])
    if out.shape != target[:1].shape:
        sys.exit("PyTorch output %s for target %s" % (tuple(out.shape), tuple(target[:1].shape)))
    gen = torch.Generator().manual_seed(a.seed)
    runs = {}
    for layout, fmt in (("nchw", torch.contiguous_format),
                        ("channels_last", torch.channels_last)):
        m = copy.deepcopy(net).to(memory_format=fmt)
        opt = torch.optim.Adam(m.parameters(), lr=1e-4)
        torch_steps(m, opt, inp, target, a.batch, a.warmup, fmt, gen)
        probe = torch_steps(m, opt, inp, target, a.batch, PROBE_STEPS, fmt, gen)
        runs[layout] = (probe, m, opt, fmt)
    layout = min(runs, key=lambda k: runs[k][0])
    _, m, opt, fmt = runs[layout]
    secs = torch_steps(m, opt, inp, target, a.batch, a.steps, fmt, gen)
    print(json.dumps({"layout": layout, "rate": a.steps * a.batch / secs}))


def bench_torch(a, model, threads, policy):
    """(samples/s, layout) from a child with OpenMP's wait policy @policy."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-child", model,
           "--threads-one", str(threads), "--data", a.data, "--patch", str(a.patch),
           "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["rate"], r["layout"]


# ---------------------------------------------------------------------------
# Our side

STEP_RE = re.compile(r"^step (\d+)/\d+ ")


def bench_ours(a, preset, task, threads, model):
    """Samples/s between the progress lines of steps warmup and warmup+steps,
    timed as they arrive (each line is flushed)."""
    last = a.warmup + a.steps
    cmd = [a.ae_train, "--task", task, "--preset", preset, "--data", a.data,
           "-o", model, "--steps", str(last + 1), "--batch", str(a.batch),
           "--patch", str(a.patch), "--threads", str(threads), "--log-every", "1",
           "--val", "2", "--val-every", "1000000", "--checkpoint-every", "1000000"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stamps = {}
    for line in p.stdout:
        m = STEP_RE.match(line)
        if m and int(m.group(1)) in (a.warmup, last):
            stamps[int(m.group(1))] = time.perf_counter()
    err = p.stderr.read()
    if p.wait() != 0 or len(stamps) != 2:
        sys.exit("ae-train failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), err))
    return a.steps * a.batch / (stamps[last] - stamps[a.warmup]), cmd


def openblas_core(ae_train):
    """The kernel family OpenBLAS picked for this CPU in our process."""
    out = subprocess.run([ae_train, "--list-presets"], capture_output=True, text=True,
                         env=dict(os.environ, OPENBLAS_VERBOSE="2"))
    m = re.search(r"Core: (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "?"


def preset_tasks(ae_train):
    out = subprocess.run([ae_train, "--list-presets"], check=True,
                         capture_output=True, text=True).stdout
    return dict(re.findall(r"^(\S+)\s+(denoise|superres|anomaly)\s", out, re.M))


# ---------------------------------------------------------------------------

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info(torch):
    cfg = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", cfg)
    dnn = re.search(r"MKL-DNN (v[\d.]+)", cfg)
    return "BLAS_INFO=%s, oneDNN %s" % (blas.group(1) if blas else "?",
                                        dnn.group(1) if dnn else "absent")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ae-train", default="ae-train")
    ap.add_argument("--presets", default="dn-fast,dn-unet,sr-fast,ae-bottleneck")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "train400"))
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--torch-child", dest="model", help=argparse.SUPPRESS)
    ap.add_argument("--threads-one", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.model:
        return torch_child(a)
    if a.steps < 1 or a.warmup < 1 or a.repeats < 1:
        sys.exit("--steps, --warmup and --repeats must be at least 1")
    a.data = os.path.abspath(a.data)

    import torch
    tasks = preset_tasks(a.ae_train)
    print("command: " + " ".join([sys.executable] + sys.argv))
    print("machine: %s, %d cores online, load average %.1f at start; PyTorch %s (%s)"
          % (cpu_name(), os.cpu_count(), os.getloadavg()[0], torch.__version__, blas_info(torch)))
    print("ours: OpenBLAS core %s%s" % (openblas_core(a.ae_train),
          ", OPENBLAS_CORETYPE=" + os.environ["OPENBLAS_CORETYPE"]
          if os.environ.get("OPENBLAS_CORETYPE") else ""))
    print("%d steps timed after %d warm-up; median of %d runs each side, alternating"
          % (a.steps, a.warmup, a.repeats))
    print()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in a.presets.split(","):
            if preset not in tasks:
                sys.exit("unknown preset %s (ae-train --list-presets)" % preset)
            model = os.path.join(tmp, preset + ".safetensors")
            for t in [int(x) for x in a.threads.split(",")]:
                # OpenMP's default (spin, then sleep) stalls badly when other
                # processes hold the cores; PASSIVE is then far faster for
                # PyTorch. With several threads both are tried on the first
                # run and the faster kept.
                policies = ["default"] + (["PASSIVE"] if t > 1 else [])
                ours, theirs = [], {}
                for _ in range(a.repeats):
                    rate, cmd = bench_ours(a, preset, tasks[preset], t, model)
                    ours.append(rate)
                    for pol in policies:
                        r, layout = bench_torch(a, model, t, pol)
                        theirs.setdefault(pol, []).append((r, layout))
                    policies = [max(theirs, key=lambda k: theirs[k][0][0])]
                if not rows:
                    print("ae-train command (per row: preset, task, threads): "
                          + " ".join(cmd).replace(tmp, "$TMP"))
                    print()
                    print("| preset | threads | batch | patch | ours samples/s | "
                          "PyTorch samples/s (layout, OpenMP wait) | ours / PyTorch |")
                    print("| --- | --- | --- | --- | --- | --- | --- |")
                pol = policies[0]
                o = statistics.median(ours)
                p = statistics.median(r for r, _ in theirs[pol])
                layouts = "/".join(sorted(set(lay for _, lay in theirs[pol])))
                rows.append((preset, t, o, p))
                print("| %s | %d | %d | %d | %.1f | %.1f (%s, %s) | %.2fx |"
                      % (preset, t, a.batch, a.patch, o, p, layouts, pol.lower(), o / p),
                      flush=True)
    print()
    print("load average %.1f at the end" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
