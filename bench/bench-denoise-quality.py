#!/usr/bin/env python3
"""Denoise quality against tuned classic baselines (issue 5's quality bars).

For a folder of clean images and a list of noise levels, every method gets
the SAME noisy images and is scored the same way. --color picks what is
measured: luma (the default) or rgb.

  clean     each image decoded by GStreamer to 8-bit R'G'B' (as ae-train and
            `ae-model eval` read it), written once as a PNG: luma: reduced
            to 8-bit luma with their formula, round(0.299 R + 0.587 G +
            0.114 B), a gray PNG; rgb: R'G'B' as decoded, an RGB PNG;
  noisy     the project's aenoise element (gaussian: N(0, sigma²) added,
            rounded and clipped to 0..255; on the RGB PNGs of --color rgb,
            independently to each of R', G' and B'), seed SEED +
            1000·round(10·sigma) + image index, so a run is reproducible
            and images get independent noise;
  ours      `ae-model run MODEL noisy.png out.png` for every model given
            (blind: no sigma is passed). In rgb mode a luma model changes
            Y' (BT.601 weights) only and keeps the noisy chroma: a
            reference row, not a colour denoiser;
  nlmeans   ffmpeg's nlmeans, tuned per sigma on these same images (an
            oracle choice, so a strong baseline): for each (p, r) of
            --nlmeans-pr, a coarse grid of s scaled by sigma and p, then
            --refine rounds of bisection around the best s; the (p, r, s)
            with the best mean PSNR wins;
  hqdn3d    ffmpeg's hqdn3d, its luma_spatial tuned the same way;
  BM3D      with --bm3d (luma, sigma <= 40): bench/bm3d.py, our NumPy
            implementation of BM3D with its published parameters, given
            the true sigma (the issue's quality bar for denoise-luma).

In rgb mode the ffmpeg filters run as users run them on colour video:
`format=yuv444p,FILTER,format=gbrp` (ffmpeg's default conversion: BT.601,
limited range; gbrp so that ffmpeg's psnr filter measures R, G and B; then
format=rgb24 to write the PNG, a lossless reordering). nlmeans filters each
of Y', Cb, Cr on its own with the same p, r and s (its patch distances are
per plane, never across colours); as the noise in each yuv444p plane is
about 0.57 sigma, the s grid is scaled by 0.57. hqdn3d: luma_spatial is
tuned with chroma_spatial equal to it, then chroma_spatial is tuned with
that luma_spatial (same grid and refine rounds). The RGB -> yuv444p -> RGB
round trip alone scores about 52 dB PSNR: its rounding error is far below
that of any denoised result.

PSNR and SSIM of every reported figure come from `ae-model compare` (luma:
Y' of the decoded frames, for gray PNGs the 8-bit values themselves; rgb:
`ae-model compare --rgb`, the MSE over R', G' and B' and the mean SSIM of
the three), averaged over images in dB as `ae-model eval` does. The
parameter search scores candidates with ffmpeg's psnr filter inside one
ffmpeg process per image (many candidates per decode), its `average`
figure (for gray the Y' PSNR; for gbrp the PSNR of the MSE over R, G and
B); it computes the same 8-bit MSE, and the script checks that against
`ae-model compare` for the chosen settings.

Speed, on one 1920x1080 frame (the first clean image scaled, gray or RGB as
--color, sigma 25 noise): ffmpeg's time per frame for each sigma's tuned
nlmeans and hqdn3d setting with --threads filter threads (median wall time
of three runs of N frames, less that of the same runs through the `null`
filter, so start-up and PNG decoding do not count, over N; in rgb mode
both runs convert to yuv444p first, so the conversion does not count
either), and `ae-model bench MODEL --size 1920x1080` for ours (median of
its GRAY8 frame path in luma mode, of its RGBx frame path in rgb mode: 8-bit
in, 8-bit out, as ffmpeg's, in memory). The machine is shared: the load
average is printed with the results.

Needs: ffmpeg (scripts/deps.sh --bench), gst-launch-1.0, a build of this
project (ae-model and the aenoise element). Python 3 standard library only;
--bm3d also needs NumPy and PyWavelets (scripts/deps.sh --bench).

Usage:
  bench/bench-denoise-quality.py [FOLDER] [--color luma|rgb] [-m MODEL]...
      [-s SIGMAS] [-b BUILD_DIR] [--nlmeans-pr 7:15,5:10] [--refine 2]
      [--jobs 2] [--threads 2] [--speed-frames 3] [--no-speed]
      [--per-image] [--bm3d] [--work DIR]
FOLDER defaults to /work/train/val; models default to the shipped
models/denoise-luma-fast.safetensors and models/denoise-luma.safetensors,
with --color rgb to models/denoise-rgb-fast.safetensors and
models/denoise-luma-fast.safetensors (a model file that does not exist is
skipped with a note).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import types
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FOLDER = "/work/train/val"
# What differs between --color luma and rgb. ffmpeg's filters run on
# pre + FILTER and are scored in fmt (what its psnr filter measures), then
# converted to png_fmt for the PNG.
COLORS = {
    "luma": types.SimpleNamespace(
        rgb=False, fmt="gray", png_fmt="gray", pre="",
        compare=[], metric="Y'", frame="gray", bench_path="GRAY8",
        s_scale=1.0, noise="",
        models=["models/denoise-luma-fast.safetensors",
                "models/denoise-luma.safetensors"]),
    "rgb": types.SimpleNamespace(
        rgb=True, fmt="gbrp", png_fmt="rgb24",
        pre="format=yuv444p,", compare=["--rgb"], metric="R'G'B'",
        frame="RGB", bench_path="RGBx",
        # noise sigma per plane of ffmpeg's yuv444p (BT.601, limited
        # range) over that of R'G'B': Y' 0.668·219/255, Cb 0.55, Cr 0.58
        s_scale=0.57, noise=", independent per R', G', B' channel",
        models=["models/denoise-rgb-fast.safetensors",
                "models/denoise-luma-fast.safetensors"]),
}
# nlmeans: s from 1 to 30. Its weights are exp(-SSD / (10 s)²) with the SSD
# summed over the p x p patch, so the best s grows with sigma and with p
# (about 0.75 sigma at p 7, 0.6 sigma at p 5 for sigma 25).
NLMEANS_S_FACTORS = (0.4, 0.55, 0.7, 0.85, 1.0)
NLMEANS_S_RANGE = (1.0, 30.0)
# hqdn3d: luma_spatial has no upper bound; its best is about 2–3 sigma.
HQDN3D_FACTORS = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
HQDN3D_RANGE = (0.1, 1000.0)
SPEED_SIZE = (1920, 1080)
SPEED_SIGMA = 25
SPEED_REPS = 3
BM3D = os.path.join(ROOT, "bench", "bm3d.py")
BM3D_MAX_SIGMA = 40


class BenchError(Exception):
    pass


def run(cmd, env=None):
    """Runs @cmd; its stdout, or BenchError with its stderr."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env, text=True)
    if p.returncode != 0:
        raise BenchError("%s failed (exit %d):\n%s" % (
            shlex.join(cmd), p.returncode, p.stderr.strip()[-2000:]))
    return p.stdout + p.stderr


def mean(xs):
    return sum(xs) / len(xs)


def write_png(path, width, height, pixels, channels=1):
    """An 8-bit gray (@channels 1) or RGB (3) PNG (no filtering) of
    @pixels, rows packed."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data)))
    row = width * channels
    raw = b"".join(b"\0" + pixels[y * row:(y + 1) * row]
                   for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                           {1: 0, 3: 2}[channels], 0, 0,
                                           0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


# Products as doubles, summed in ae-dataset.c's order: the same luma bytes.
LUMA_R = [0.299 * v for v in range(256)]
LUMA_G = [0.587 * v for v in range(256)]
LUMA_B = [0.114 * v for v in range(256)]


def to_png(src, dst, tmp, rgb):
    """Decodes @src with GStreamer to RGBx and writes its R'G'B' (@rgb) or
    its luma to @dst."""
    raw = tmp + ".rgbx"
    out = run(["gst-launch-1.0", "-v", "filesrc", "location=" + src, "!",
               "decodebin", "!", "videoconvert", "!",
               "video/x-raw,format=RGBx", "!", "filesink",
               "location=" + raw])
    caps = [line for line in out.splitlines()
            if "format=(string)RGBx" in line]
    size = caps and re.search(r"width=\(int\)(\d+), height=\(int\)(\d+)",
                              caps[-1])
    if not size:
        raise BenchError("%s: no RGBx caps in gst-launch-1.0's output" % src)
    w, h = int(size.group(1)), int(size.group(2))
    with open(raw, "rb") as f:
        data = f.read()
    os.unlink(raw)
    if len(data) != w * h * 4:
        raise BenchError("%s: decoded %d bytes, expected %dx%dx4" % (
            src, len(data), w, h))
    if rgb:
        pixels = bytearray(w * h * 3)
        for c in range(3):
            pixels[c::3] = data[c::4]
    else:
        pixels = bytes(round(LUMA_R[r] + LUMA_G[g] + LUMA_B[b]) for r, g, b
                       in zip(data[0::4], data[1::4], data[2::4]))
    write_png(dst, w, h, pixels, 3 if rgb else 1)
    return w, h


class Bench:
    def __init__(self, args):
        self.args = args
        self.color = COLORS[args.color]
        self.ae_model = os.path.join(args.build, "tools", "ae-model")
        self.env = dict(os.environ)
        gst = os.path.join(args.build, "gst")
        self.env["GST_PLUGIN_PATH"] = gst + (
            ":" + self.env["GST_PLUGIN_PATH"]
            if self.env.get("GST_PLUGIN_PATH") else "")
        self.pool = concurrent.futures.ThreadPoolExecutor(args.jobs)
        self.images = []        # (name, clean png, width, height)
        self.notes = []
        self.work = args.work

    def map(self, fn, items):
        return list(self.pool.map(fn, items))

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    # ---- data -------------------------------------------------------------

    def prepare(self):
        folder = self.args.folder
        names = sorted(os.listdir(folder))
        bases = [os.path.splitext(n)[0] for n in names]
        os.makedirs(self.path("clean"), exist_ok=True)

        def one(name):
            src = os.path.join(folder, name)
            if not os.path.isfile(src):
                return name, None, "not a readable file (broken link?)"
            base = os.path.splitext(name)[0]
            if bases.count(base) > 1:       # a.jpg and a.png
                base = name
            dst = self.path("clean", base + ".png")
            try:
                w, h = to_png(src, dst, self.path("clean", base),
                              self.color.rgb)
            except BenchError as e:
                why = [line.split(": ")[-1] for line in
                       e.args[0].splitlines() if line.startswith("ERROR")]
                return name, None, "cannot decode (%s)" % (
                    why[0] if why else e.args[0].splitlines()[-1])
            return base, (dst, w, h), None

        for name, got, why in self.map(one, names):
            if got:
                self.images.append((name,) + got)
            else:
                self.notes.append("skipped %s: %s" % (name, why))
        if not self.images:
            raise BenchError("%s: no image could be decoded\n%s" % (
                folder, "\n".join(self.notes)))

    def noisy(self, sigma, i):
        return self.path("s%g" % sigma, "%s.png" % self.images[i][0])

    def make_noisy(self, sigma):
        os.makedirs(self.path("s%g" % sigma), exist_ok=True)

        def one(i):
            seed = self.args.seed + 1000 * round(10 * sigma) + i
            run(["gst-launch-1.0", "-q", "filesrc",
                 "location=" + self.images[i][1], "!", "pngdec", "!",
                 "aenoise", "mode=gaussian", "sigma=%g" % sigma,
                 "seed=%d" % seed, "!", "pngenc", "!", "filesink",
                 "location=" + self.noisy(sigma, i)], env=self.env)
        self.map(one, range(len(self.images)))

    def compare(self, clean, test):
        out = run([self.ae_model, "compare", "--json"] + self.color.compare
                  + [clean, test], env=self.env)
        j = json.loads(out[out.index("{"):])
        return j["psnr"], j["ssim"]

    def score(self, sigma, produce, tag):
        """Per-image (PSNR, SSIM) of the outputs produce(i, out_path)
        writes for each noisy image of @sigma."""
        def one(i):
            out = self.path("s%g" % sigma, "%s.%s.png" %
                            (self.images[i][0], tag))
            produce(i, out)
            return self.compare(self.images[i][1], out)
        return self.map(one, range(len(self.images)))

    # ---- ffmpeg baselines -------------------------------------------------

    def ffmpeg_psnr(self, sigma, filters):
        """Mean PSNR over images of each filter string, from ffmpeg's psnr
        filter, all candidates of an image in one ffmpeg process."""
        n, c = len(filters), self.color

        def one(i):
            # clean in fmt, noisy as its PNG decodes (png_fmt): the
            # candidates get ffmpeg_produce's conversions
            graph = ["[0]format=%s,split=%d%s" % (
                c.fmt, n + 1, "".join("[c%d]" % k for k in range(n + 1))),
                "[1]format=%s,split=%d%s" % (
                c.png_fmt, n, "".join("[n%d]" % k for k in range(n)))]
            for k, f in enumerate(filters):
                graph.append("[n%d]%s%s,format=%s[d%d];[d%d][c%d]psnr@k%d,"
                             "nullsink" % (k, c.pre, f, c.fmt, k, k, k, k))
            # ffmpeg wants one output: the clean image's last copy
            graph.append("[c%d]format=%s[out]" % (n, c.fmt))
            out = run(["ffmpeg", "-hide_banner", "-nostdin",
                       "-filter_threads", "1", "-i", self.images[i][1],
                       "-i", self.noisy(sigma, i), "-filter_complex",
                       ";".join(graph), "-map", "[out]", "-f", "null", "-"])
            # average: Y' for gray, the MSE over R, G, B for gbrp
            got = dict(re.findall(r"\[psnr@k(\d+) @ [^]]*\] PSNR .*?"
                                  r"average:([0-9.]+|inf)", out))
            if len(got) != n:
                raise BenchError("ffmpeg printed %d PSNRs for %d filters" %
                                 (len(got), n))
            return [float(got[str(k)]) for k in range(n)]
        per_image = self.map(one, range(len(self.images)))
        return [mean([p[k] for p in per_image]) for k in range(n)]

    def tune(self, sigma, configs, make_filter, grid, lo, hi):
        """For each config, the x in [lo, hi] with the best mean PSNR of
        make_filter(config, x): grid(config) first, then --refine rounds
        that try the midpoints beside the best (or step outwards when the
        best is at the end of what was tried). Returns {config: {x: psnr}}."""
        tried = {c: {} for c in configs}

        def evaluate(todo):
            todo = [(c, x) for c, x in todo if x not in tried[c]]
            if todo:
                res = self.ffmpeg_psnr(sigma, [make_filter(c, x)
                                               for c, x in todo])
                for (c, x), p in zip(todo, res):
                    tried[c][x] = p

        def clip(x):
            return round(min(hi, max(lo, x)), 1)

        evaluate([(c, clip(x)) for c in configs for x in grid(c)])
        for _ in range(self.args.refine):
            todo = []
            for c in configs:
                xs = sorted(tried[c])
                b = max(xs, key=lambda x: tried[c][x])
                k = xs.index(b)
                left = xs[k - 1] if k > 0 else b / 1.5
                right = xs[k + 1] if k + 1 < len(xs) else b * 1.5
                todo += [(c, clip((left + b) / 2)), (c, clip((b + right) / 2))]
            evaluate(todo)
        return tried

    def nlmeans_filter(self, pr, s):
        return "nlmeans=s=%g:p=%d:r=%d" % (s, pr[0], pr[1])

    def tune_nlmeans(self, sigma):
        scale = sigma * self.color.s_scale
        return self.tune(
            sigma, self.args.nlmeans_pr, self.nlmeans_filter,
            lambda pr: [f * scale * pr[0] / 7 for f in NLMEANS_S_FACTORS],
            *NLMEANS_S_RANGE)

    def hqdn3d_filter(self, luma, chroma=None):
        return "hqdn3d=luma_spatial=%g" % luma + (
            "" if chroma is None else ":chroma_spatial=%g" % chroma)

    def tune_hqdn3d(self, sigma):
        """The best (luma_spatial, chroma_spatial, search PSNR): in rgb
        mode luma_spatial with chroma_spatial equal to it, then
        chroma_spatial with that luma_spatial; chroma_spatial is None (the
        filter's default) in luma mode."""
        def best(tried):
            return max(tried.items(), key=lambda kv: kv[1])

        def grid(c):
            return [f * sigma for f in HQDN3D_FACTORS]
        rgb = self.color.rgb
        luma, psnr = best(self.tune(
            sigma, ["luma"], lambda c, x: self.hqdn3d_filter(
                x, x if rgb else None), grid, *HQDN3D_RANGE)["luma"])
        if not rgb:
            return luma, None, psnr
        chroma, psnr = best(self.tune(
            sigma, ["chroma"], lambda c, x: self.hqdn3d_filter(luma, x),
            lambda c: grid(c) + [luma], *HQDN3D_RANGE)["chroma"])
        return luma, chroma, psnr

    def ffmpeg_produce(self, sigma, vf):
        c = self.color
        vf = "%s%s,format=%s" % (c.pre, vf, c.fmt) + (
            "" if c.png_fmt == c.fmt else ",format=" + c.png_fmt)

        def produce(i, out):
            run(["ffmpeg", "-v", "error", "-nostdin", "-y",
                 "-filter_threads", "1", "-i", self.noisy(sigma, i), "-vf",
                 vf, "-frames:v", "1", out])
        return produce

    # ---- our models -------------------------------------------------------

    def model_produce(self, sigma, model):
        def produce(i, out):
            run([self.ae_model, "run", "-q", "--device", self.args.device,
                 "--threads", "1", model, self.noisy(sigma, i), out],
                env=self.env)
        return produce

    def bm3d_produce(self, sigma):
        def produce(i, out):
            run([sys.executable, BM3D, "--sigma", "%g" % sigma,
                 self.noisy(sigma, i), out])
        return produce

    # ---- speed ------------------------------------------------------------

    def speed_frame(self):
        clean = self.path("speed-clean.png")
        noisy = self.path("speed-noisy.png")
        run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i",
             self.images[0][1], "-vf", "scale=%d:%d:flags=lanczos,"
             "format=%s" % (SPEED_SIZE + (self.color.png_fmt,)),
             "-frames:v", "1", clean])
        run(["gst-launch-1.0", "-q", "filesrc", "location=" + clean, "!",
             "pngdec", "!", "aenoise", "sigma=%d" % SPEED_SIGMA,
             "seed=%d" % self.args.seed, "!", "pngenc", "!", "filesink",
             "location=" + noisy], env=self.env)
        return noisy

    def ffmpeg_wall(self, frame, vf, frames):
        """Median over SPEED_REPS runs of the wall time (s) of ffmpeg
        filtering @frames copies of @frame with @vf (after the conversion
        to what the filters run on in rgb mode)."""
        def once():
            t = time.monotonic()
            run(["ffmpeg", "-v", "error", "-nostdin", "-filter_threads",
                 str(self.args.threads), "-loop", "1", "-i", frame, "-vf",
                 self.color.pre + vf, "-frames:v", str(frames), "-f",
                 "null", "-"])
            return time.monotonic() - t
        return sorted(once() for _ in range(SPEED_REPS))[SPEED_REPS // 2]

    def ffmpeg_ms(self, frame, vf, frames, null_wall):
        """ms per frame of filter @vf alone: ffmpeg's wall time less that of
        the same run through the `null` filter (@null_wall: start-up, PNG
        decoding), over @frames."""
        wall = self.ffmpeg_wall(frame, vf, frames)
        return max(0.0, wall - null_wall) * 1000 / frames

    def model_ms(self, model):
        w, h = SPEED_SIZE
        out = run([self.ae_model, "bench", model, "--size", "%dx%d" % (w, h),
                   "--device", self.args.device, "--threads",
                   str(self.args.threads), "--frames",
                   str(max(3, self.args.speed_frames)), "--warmup", "1"],
                  env=self.env)
        m = re.search(r"^RESULT .*\bms=([0-9.]+).*\bframe_ms=([0-9.]+)", out,
                      re.M)
        if not m:
            raise BenchError("no RESULT line in ae-model bench's output")
        frame_ms = float(m.group(2))
        if self.color.rgb:      # RESULT's frame_ms is GRAY8's, if it has one
            row = re.search(r"^RGBx frame +([0-9.]+)", out, re.M)
            if not row:
                raise BenchError("no RGBx frame line in ae-model bench's "
                                 "output")
            frame_ms = float(row.group(1))
        return frame_ms, float(m.group(1))

    def model_color(self, model):
        """luma or rgb, as `ae-model info` says."""
        m = re.search(r"^color: +(\w+)", run([self.ae_model, "info", model],
                                             env=self.env), re.M)
        return m.group(1) if m else "unknown"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def pair(scores):
    return "%.2f / %.4f" % (mean([s[0] for s in scores]),
                            mean([s[1] for s in scores]))


def parse_pr(text):
    try:
        prs = [tuple(int(v) for v in item.split(":")) for item in
               text.split(",")]
    except ValueError:
        prs = []
    if not prs or any(len(pr) != 2 or not (1 <= pr[0] <= 99 and
                                           0 <= pr[1] <= 99) for pr in prs):
        raise argparse.ArgumentTypeError(
            "expected P:R pairs like 7:15,5:10 (p 1..99, r 0..99)")
    return prs


def parse_sigmas(text):
    try:
        sigmas = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        sigmas = []
    if not sigmas or any(not 0 < s <= 255 for s in sigmas):
        raise argparse.ArgumentTypeError("expected noise levels in (0, 255]")
    return sigmas


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    return "%s, %d cores (%d usable), %s %s" % (
        cpu, os.cpu_count(), len(os.sched_getaffinity(0)), platform.system(),
        platform.release())


def load():
    return "%.1f %.1f %.1f" % os.getloadavg()


def main():
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(
        description="Denoise PSNR/SSIM of our models against ffmpeg nlmeans "
        "and hqdn3d tuned per sigma, on the same noisy images; and speed at "
        "1080p. See the script's docstring for the method.")
    ap.add_argument("folder", nargs="?", default=DEFAULT_FOLDER,
                    help="clean images (default %(default)s)")
    ap.add_argument("--color", choices=sorted(COLORS), default="luma",
                    help="luma (default): the images' 8-bit Y' as gray "
                    "PNGs, scored on Y'; rgb: their 8-bit R'G'B' as RGB PNGs "
                    "with independent noise per channel, scored with "
                    "`ae-model compare --rgb` (R'G'B' PSNR and SSIM), "
                    "ffmpeg's filters run on yuv444p (BT.601 limited "
                    "range) and converted back to RGB, hqdn3d's "
                    "chroma_spatial tuned too, speed on an RGB frame (our "
                    "models' RGBx frame path)")
    ap.add_argument("-m", "--model", action="append", dest="models",
                    metavar="MODEL",
                    help="a denoise model (repeatable; default: the "
                    "shipped denoise-luma-fast and denoise-luma; with "
                    "--color rgb denoise-rgb-fast and denoise-luma-fast, "
                    "the luma model, which changes Y' only, as a "
                    "reference)")
    ap.add_argument("-s", "--sigmas", type=parse_sigmas,
                    default=parse_sigmas("5 15 25 35 50"),
                    help="noise levels, 0..255 units (default '5 15 25 35 "
                    "50')")
    ap.add_argument("-b", "--build", default=os.path.join(ROOT, "build"),
                    help="meson build directory (default %(default)s)")
    ap.add_argument("--device", default="cpu",
                    help="ae-model --device for our models (default cpu)")
    ap.add_argument("--nlmeans-pr", type=parse_pr,
                    default=parse_pr("7:15,5:10,3:10"),
                    help="nlmeans (p, r) pairs to tune s for (default "
                    "7:15,5:10,3:10; 7:15 is ffmpeg's default)")
    ap.add_argument("--refine", type=int, default=2,
                    help="bisection rounds after each coarse grid (default "
                    "2)")
    ap.add_argument("--seed", type=int, default=1,
                    help="noise seed (default 1)")
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="images processed at once, one thread each "
                    "(default 2)")
    ap.add_argument("-t", "--threads", type=int, default=2,
                    help="threads for the 1080p speed runs, ours and "
                    "ffmpeg's (default 2)")
    ap.add_argument("--speed-frames", type=int, default=3,
                    help="frames per timed nlmeans run, and per path of "
                    "ae-model bench (default 3; hqdn3d runs 10x as many)")
    ap.add_argument("--no-speed", action="store_true",
                    help="skip the speed measurements")
    ap.add_argument("--per-image", action="store_true",
                    help="also print every image's PSNR")
    ap.add_argument("--bm3d", action="store_true",
                    help="also score BM3D (bench/bm3d.py, given the true "
                    "sigma; luma, sigma <= %d; no speed figure: it is a "
                    "NumPy reference, not a tuned implementation)" %
                    BM3D_MAX_SIGMA)
    ap.add_argument("--work", help="keep the images in DIR (default: a "
                    "temporary folder, removed at the end)")
    args = ap.parse_args()
    if args.jobs < 1 or args.threads < 1 or args.refine < 0 or \
            args.speed_frames < 1:
        ap.error("--jobs, --threads and --speed-frames must be 1 or more, "
                 "--refine 0 or more")
    if args.bm3d and args.color != "luma":
        ap.error("--bm3d measures luma only")
    if not os.path.isdir(args.folder):
        ap.error("%s is not a folder" % args.folder)

    for tool in ("ffmpeg", "gst-launch-1.0"):
        if not shutil.which(tool):
            sys.exit("%s: %s not found (scripts/deps.sh --bench installs "
                     "ffmpeg)" % (sys.argv[0], tool))
    ae_model = os.path.join(args.build, "tools", "ae-model")
    if not os.access(ae_model, os.X_OK):
        sys.exit("%s: %s not found (build first, or give -b BUILD_DIR)" %
                 (sys.argv[0], ae_model))

    models, notes = [], []
    for m in args.models or COLORS[args.color].models:
        path = m if os.path.isabs(m) or os.path.exists(m) else \
            os.path.join(ROOT, m)
        if os.path.isfile(path):
            # a name per model: it labels the rows and the output files
            name = base = os.path.basename(path).replace(".safetensors", "")
            k = 1
            while name in (n for n, _ in models):
                k += 1
                name = "%s-%d" % (base, k)
            models.append((name, path))
        else:
            notes.append("skipped model %s: no such file" % m)

    temp = None
    if not args.work:
        temp = args.work = tempfile.mkdtemp(prefix="bench-denoise-quality-")
    os.makedirs(args.work, exist_ok=True)
    bench = Bench(args)
    bench.notes += notes
    try:
        report(bench, models)
    except BenchError as e:
        sys.exit("%s: %s" % (sys.argv[0], e))
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    print("total %.0f s; load average at the end %s" % (
        time.monotonic() - START, load()))


def report(bench, models):
    args, color = bench.args, bench.color
    ffmpeg_version = run(["ffmpeg", "-version"]).splitlines()[0]
    print("# bench-denoise-quality: %s" % shlex.join(sys.argv))
    print("# date: %s" % datetime.datetime.now().astimezone().strftime(
        "%Y-%m-%d %H:%M %Z"))
    print("# machine: %s; load average %s" % (machine(), load()))
    print("# %s; %s" % (ffmpeg_version, run(["gst-launch-1.0",
                                               "--version"]).splitlines()[1]))
    bench.prepare()
    print("# images: %d from %s (%s), %.2f Mpixel in all" % (
        len(bench.images), args.folder,
        " ".join(im[0] for im in bench.images),
        sum(im[2] * im[3] for im in bench.images) / 1e6))
    for n in bench.notes:
        print("# note: " + n)
    for name, path in models:
        print("# model %s: %s" % (name, path))
    print("# noise: aenoise gaussian%s, clipped and rounded to 8 bits, seed "
          "%d + 1000*round(10*sigma) + image index" % (color.noise, args.seed))
    print("# metric: ae-model compare%s (%s, PSNR peak 255, SSIM Wang et "
          "al.), mean over images; nlmeans/hqdn3d tuned per sigma on these "
          "images (p:r pairs %s, %d refine rounds)" % (
              "".join(" " + a for a in color.compare), color.metric,
              ",".join("%d:%d" % pr for pr in args.nlmeans_pr), args.refine))
    if color.rgb:
        print("# colour: ffmpeg filters run as %sFILTER,format=%s (BT.601 "
              "limited range), written as %s; nlmeans s grid scaled by %g "
              "(noise per yuv444p plane / sigma); hqdn3d luma_spatial tuned "
              "with chroma_spatial equal, then chroma_spatial" % (
                  color.pre, color.fmt, color.png_fmt, color.s_scale))
    print()

    rows, tuning, best, vs_bm3d = [], [], {}, []
    per_image = {}
    max_gap = 0.0
    for sigma in args.sigmas:
        bench.make_noisy(sigma)
        noisy = bench.map(lambda i: bench.compare(bench.images[i][1],
                                                  bench.noisy(sigma, i)),
                          range(len(bench.images)))
        nl = bench.tune_nlmeans(sigma)
        nl_best = {pr: max(nl[pr].items(), key=lambda kv: kv[1])
                   for pr in nl}
        pr = max(nl_best, key=lambda c: nl_best[c][1])
        s = nl_best[pr][0]
        nl_vf = bench.nlmeans_filter(pr, s)
        hq_x, hq_c, hq_search = bench.tune_hqdn3d(sigma)
        hq_vf = bench.hqdn3d_filter(hq_x, hq_c)
        best[sigma] = (nl_vf, hq_vf)

        nl_scores = bench.score(sigma, bench.ffmpeg_produce(sigma, nl_vf),
                                "nlmeans")
        hq_scores = bench.score(sigma, bench.ffmpeg_produce(sigma, hq_vf),
                                "hqdn3d")
        # the search's ffmpeg PSNR and ae-model compare's must agree
        max_gap = max(max_gap,
                      abs(mean([p for p, _ in nl_scores]) - nl_best[pr][1]),
                      abs(mean([p for p, _ in hq_scores]) - hq_search))
        row = ["%g" % sigma, pair(noisy), pair(nl_scores),
               "s=%g p=%d r=%d" % (s, pr[0], pr[1]), pair(hq_scores),
               "%g" % hq_x + ("" if hq_c is None else ":%g" % hq_c)]
        per_image[sigma] = [("noisy", noisy), ("nlmeans", nl_scores),
                            ("hqdn3d", hq_scores)]
        bm = None
        if args.bm3d and sigma <= BM3D_MAX_SIGMA:
            bm = bench.score(sigma, bench.bm3d_produce(sigma), "bm3d")
            per_image[sigma].append(("bm3d", bm))
            vs_bm3d.append(["%g" % sigma, pair(bm)])
        for name, path in models:
            sc = bench.score(sigma, bench.model_produce(sigma, path), name)
            gain = mean([p for p, _ in sc]) - mean([p for p, _ in nl_scores])
            row += [pair(sc), "%+.2f" % gain]
            per_image[sigma].append((name, sc))
            if bm:
                vs_bm3d[-1].append("%+.2f" % (mean([p for p, _ in sc]) -
                                              mean([p for p, _ in bm])))
        rows.append(row)
        tuning.append(["%g" % sigma] + [
            "s=%g: %.2f (%d tried)" % (nl_best[c][0], nl_best[c][1],
                                       len(nl[c]))
            for c in args.nlmeans_pr])
        print("# sigma %g done (%.0f s so far)" % (
            sigma, time.monotonic() - START), file=sys.stderr)

    print("## Quality: PSNR dB / SSIM, mean over %d images" %
          len(bench.images))
    print()
    header = ["sigma", "noisy", "nlmeans (tuned)", "nlmeans setting",
              "hqdn3d (tuned)", "hqdn3d luma_spatial" +
              (":chroma_spatial" if color.rgb else "")]
    for name, _ in models:
        header += [name, "vs nlmeans dB"]
    table(header, rows)
    if color.rgb:
        for name, path in models:
            if bench.model_color(path) == "luma":
                print("Note: %s is a luma model: on these RGB images "
                      "`ae-model run` denoises Y' (BT.601) and keeps the "
                      "noisy chroma, a reference row, not a colour "
                      "denoiser." % name)
                print()
    print("Search PSNR (ffmpeg psnr) and ae-model compare differ by at most "
          "%.3f dB on the chosen settings." % max_gap)
    print()
    if vs_bm3d:
        print("## BM3D (bench/bm3d.py, true sigma given): PSNR dB / SSIM, "
              "and each model's PSNR minus BM3D's")
        print()
        table(["sigma", "BM3D"] + ["%s vs BM3D dB" % n for n, _ in models],
              vs_bm3d)
    print("## nlmeans: best s per (p, r), mean PSNR dB (search)")
    print()
    table(["sigma"] + ["p=%d r=%d" % c for c in args.nlmeans_pr], tuning)

    if args.per_image:
        print("## Per image PSNR dB")
        print()
        for sigma in args.sigmas:
            meths = per_image[sigma]
            table(["sigma %g" % sigma] + [m for m, _ in meths],
                  [[bench.images[i][0]] + ["%.2f" % sc[i][0]
                                           for _, sc in meths]
                   for i in range(len(bench.images))])

    if args.no_speed:
        return
    frame = bench.speed_frame()
    w, h = SPEED_SIZE
    print("## Speed: %dx%d %s frame, %d threads" % (w, h, color.frame,
                                                    args.threads))
    print()
    speed, nl_ms, null_wall = [], {}, {}
    for sigma in args.sigmas:
        for kind, vf in zip(("nlmeans", "hqdn3d"), best[sigma]):
            if kind == "nlmeans" and vf in nl_ms:
                continue
            # hqdn3d is ~20x faster: more frames for a measurable time
            frames = args.speed_frames * (1 if kind == "nlmeans" else 10)
            if frames not in null_wall:
                null_wall[frames] = bench.ffmpeg_wall(frame, "null", frames)
            ms = bench.ffmpeg_ms(frame, vf, frames, null_wall[frames])
            if kind == "nlmeans":
                nl_ms[vf] = ms
            speed.append(["ffmpeg %s (sigma %g)" % (kind, sigma),
                          color.pre + vf,
                          "%.1f" % ms, "%.2f" % (1000 / ms if ms else 0)])
    ours = []
    for name, path in models:
        frame_ms, tensor_ms = bench.model_ms(path)
        ours.append((name, frame_ms))
        speed.append([name, "ae-model bench, %s, %s frame (f32 tensor "
                      "%.1f ms)" % (args.device, color.bench_path, tensor_ms),
                      "%.1f" % frame_ms, "%.2f" % (1000 / frame_ms)])
    table(["method", "setting", "ms/frame", "fps"], speed)
    if ours:
        print("## Speed ratio: our fps / tuned nlmeans fps")
        print()
        table(["model"] + ["nlmeans sigma %g" % sg for sg in args.sigmas],
              [[name] + ["%.1fx" % (nl_ms[best[sg][0]] / ms)
                         for sg in args.sigmas] for name, ms in ours])


START = time.monotonic()

if __name__ == "__main__":
    main()
