#!/usr/bin/env python3
"""Side-by-side CPU benchmark: our engine (`ae-model bench`) against PyTorch
on the CPU (Debian's python3-torch), same weights read from the same model
file, same thread count, PyTorch in its fastest configuration here
(the faster of eager channels_last and TorchScript optimize_for_inference,
measured each time).

Architectures (random weights; speed does not depend on their values):
  dncnn17  17 conv3x3, 64 channels, residual              1920x1080
  light8   8 conv3x3, 32 channels, residual               1920x1080
  unet2    U-Net, two stride-2 levels, pixel-shuffle up,  1920x1080
           concat skips
  espcn2   ESPCN x2 (5x5 64, 3x3 32, 3x3 4, shuffle)      960x540 -> 1920x1080

Needs: scripts/deps.sh --bench (python3-torch, python3-numpy).
Usage (from the build tree's devenv or with --ae-model):
  /usr/bin/python3 bench/bench-cpu.py [--threads 1,2] [--frames 5]
      [--ae-model build/tools/ae-model] [--only light8,...]
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "data"))
import gen_fixtures as gf  # noqa: E402


def arch_dncnn17():
    nodes, last = gf.chain("c", "input", [64] * 16, "relu", 1)
    nodes.append(gf.node("y", "add", [last, "input"]))
    return gf.graph("denoise", "luma", nodes, "y"), (1920, 1080)


def arch_light8():
    nodes, last = gf.chain("c", "input", [32] * 7, "relu", 1)
    nodes.append(gf.node("y", "add", [last, "input"]))
    return gf.graph("denoise", "luma", nodes, "y"), (1920, 1080)


def arch_unet2():
    c, n = gf.conv, gf.node
    nodes = [
        c("e1", "input", 32, act="relu"),
        c("d1", "e1", 64, stride=2, act="relu"),
        c("d2", "d1", 64, stride=2, act="relu"),
        c("b", "d2", 64, act="relu"),
        c("u1c", "b", 256),
        n("u1", "pixel_shuffle", ["u1c"], factor=2),
        n("k1", "concat", ["u1", "d1"]),
        c("m1", "k1", 64, act="relu"),
        c("u2c", "m1", 128),
        n("u2", "pixel_shuffle", ["u2c"], factor=2),
        n("k2", "concat", ["u2", "e1"]),
        c("m2", "k2", 32, act="relu"),
        c("o", "m2", 1),
        n("y", "add", ["o", "input"]),
    ]
    return gf.graph("denoise", "luma", nodes, "y"), (1920, 1080)


def arch_espcn2():
    c, n = gf.conv, gf.node
    nodes = [
        c("c1", "input", 64, kernel=5, act="tanh"),
        c("c2", "c1", 32, act="tanh"),
        c("c3", "c2", 4),
        n("y", "pixel_shuffle", ["c3"], factor=2),
    ]
    return gf.graph("superres", "luma", nodes, "y", scale=2), (960, 540)


ARCHS = {"dncnn17": arch_dncnn17, "light8": arch_light8,
         "unet2": arch_unet2, "espcn2": arch_espcn2}


def write_model(name, g, path):
    order, shapes = gf.validate_graph(g)
    params = gf.random_params(order, shapes, np.random.RandomState(7))
    tensors = [gf.np_tensor(k, params[k].astype(np.float32)) for k in sorted(params)]
    with open(path, "wb") as f:
        f.write(gf.st_encode(tensors, gf.model_metadata(g)))


def bench_torch(path, size, threads, frames, warmup):
    """Median ms of PyTorch's fastest configuration we know here, and its
    name: eager channels_last, or TorchScript optimize_for_inference (which
    freezes the graph, fuses conv+relu and keeps oneDNN's blocked layout)."""
    import torch
    import warnings
    torch.set_num_threads(threads)
    net = gf.torch_module(path)[0].eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 1, size[1], size[0]).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        configs = {"eager channels_last": net,
                   "jit optimize_for_inference":
                       torch.jit.optimize_for_inference(torch.jit.trace(net, x))}
    best = None
    for label, f in configs.items():
        times = []
        with torch.no_grad():
            for i in range(warmup + frames):
                t = time.perf_counter()
                f(x)
                if i >= warmup:
                    times.append(time.perf_counter() - t)
        ms = statistics.median(times) * 1000
        if best is None or ms < best[0]:
            best = (ms, label)
    return best


def bench_ours(ae_model, path, size, threads, frames, warmup):
    cmd = [ae_model, "bench", path, "--device", "cpu", "--size", "%dx%d" % size,
           "--threads", str(threads), "--frames", str(frames), "--warmup", str(warmup)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^RESULT .*ms=([0-9.]+) gflops=([0-9.]+)", out, re.M)
    if not m:
        sys.exit("no RESULT line from: " + " ".join(cmd) + "\n" + out)
    return float(m.group(1)), float(m.group(2))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default=",".join(ARCHS))
    ap.add_argument("--ae-model", default="ae-model")
    args = ap.parse_args()

    import torch
    print("command: " + " ".join([sys.executable] + sys.argv))
    print("machine: %s, %d cores online; PyTorch %s; median of %d frames after %d warm-up"
          % (cpu_name(), os.cpu_count(), torch.__version__, args.frames, args.warmup))
    print()
    print("| arch | input | threads | GFLOP/frame | ours ms | PyTorch ms | ours / PyTorch speed | ours GFLOP/s | PyTorch GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            g, size = ARCHS[name]()
            path = os.path.join(tmp, name + ".safetensors")
            write_model(name, g, path)
            for t in [int(x) for x in args.threads.split(",")]:
                ms, gflops = bench_ours(args.ae_model, path, size, t, args.frames, args.warmup)
                gf_frame = gflops * ms / 1000
                tms, how = bench_torch(path, size, t, args.frames, args.warmup)
                print("| %s | %dx%d | %d | %.1f | %.1f | %.1f (%s) | %.2fx | %.0f | %.0f |"
                      % (name, size[0], size[1], t, gf_frame, ms, tms, how, tms / ms,
                         gflops, gf_frame / tms * 1000), flush=True)


if __name__ == "__main__":
    main()
