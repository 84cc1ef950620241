#!/usr/bin/env python3
"""BM3D (Dabov, Foi, Katkovnik, Egiazarian 2007), grayscale, as a reference
point for issue 5's denoise-luma bar, written for this project in NumPy.

Two steps, each block matching then collaborative filtering of 3D groups:

  1. hard thresholding: 8x8 patches on a grid of step 3 (plus the last row
     and column), up to 16 matches within a 39x39 window whose mean squared
     distance to the reference is below 2500; the group's 2D bior1.5
     spectra (the basis vectors scaled to unit norm, as the authors' code
     does) and a 1D Haar transform along the group; coefficients below
     2.7 sigma set to zero; each estimate weighted by 1 / (kept
     coefficients) and by a Kaiser window (beta 2), summed into the image;
  2. Wiener filtering: matching on step 1's estimate (up to 32 matches,
     distance below 400), 2D DCT and 1D Haar; the noisy group's spectrum
     scaled by |basic|² / (|basic|² + sigma²); weights 1 / sum(scale²).

These are the published parameters for sigma <= 40 (the "normal" profile);
the profile for higher noise is not implemented, so sigma above 40 is
refused. Groups have a power-of-two size: the largest that the matches
below the threshold fill.

Usage: bench/bm3d.py --sigma SIGMA NOISY.png OUT.png
(8-bit gray in and out, through ffmpeg; needs python3-numpy, python3-pywt.)
"""
import argparse
import subprocess
import sys

import numpy as np

MAX_SIGMA = 40.0
STEP1 = dict(k=8, n=16, step=3, window=39, tau=2500.0)
STEP2 = dict(k=8, n=32, step=3, window=39, tau=400.0)
LAMBDA_3D = 2.7
KAISER_BETA = 2.0
# References per batch: bounds the memory of a batch of groups.
BATCH = 2048


def dct_matrix(k):
    """The orthonormal DCT-II as a k x k matrix (rows are basis vectors)."""
    i = np.arange(k)
    m = np.cos(np.pi * (2 * i[None, :] + 1) * i[:, None] / (2 * k))
    m *= np.sqrt(2.0 / k)
    m[0] /= np.sqrt(2.0)
    return m


def bior15_matrix(k):
    """The k-point bior1.5 wavelet transform (full decomposition, periodic
    extension) as a matrix, each row scaled to unit norm."""
    import pywt
    import warnings
    with warnings.catch_warnings():
        # pywt warns that every level of an 8-point transform sees the
        # boundary; the periodic extension is what is wanted
        warnings.simplefilter("ignore")
        levels = int(np.log2(k))
        cols = [np.concatenate(pywt.wavedec(e, "bior1.5", mode="periodization",
                                            level=levels))
                for e in np.eye(k)]
    m = np.array(cols).T
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def haar_matrix(n):
    """The orthonormal n-point Haar transform, n a power of two."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        m = h.shape[0]
        h = np.vstack([np.kron(h, [1.0, 1.0]),
                       np.kron(np.eye(m), [1.0, -1.0])]) / np.sqrt(2.0)
    return h


def grid(length, k, step):
    """Reference patch positions along one axis: every step, and the last."""
    pos = list(range(0, length - k + 1, step))
    if pos[-1] != length - k:
        pos.append(length - k)
    return np.array(pos)


def spectra(img, t):
    """2D transform (t · patch · tᵀ) of every k x k patch, as (P, Q, k²)."""
    k = t.shape[0]
    p = np.lib.stride_tricks.sliding_window_view(img, (k, k))
    s = np.einsum("ia,pqab,jb->pqij", t, p, t, optimize=True)
    return s.reshape(p.shape[0], p.shape[1], k * k)


def match(img, k, n, step, window, tau):
    """Block matching on @img. Returns the reference positions (ry, rx),
    the matches' positions (my, mx), each (refs, n) and sorted by distance
    (the reference first), and each reference's group size."""
    h, w = img.shape
    ys, xs = grid(h, k, step), grid(w, k, step)
    r = window // 2
    # outside the image: far from everything, so never below tau
    pad = np.pad(img, r, constant_values=1e4)
    shifts = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    dist = np.empty((len(ys), len(xs), len(shifts)), np.float32)
    for s, (dy, dx) in enumerate(shifts):
        d2 = (img - pad[r + dy:r + dy + h, r + dx:r + dx + w]) ** 2
        ii = np.zeros((h + 1, w + 1))
        ii[1:, 1:] = d2.cumsum(0).cumsum(1)
        ssd = ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]
        dist[:, :, s] = ssd[np.ix_(ys, xs)]
    dist = dist.reshape(-1, len(shifts)) / (k * k)
    best = np.argpartition(dist, n - 1, axis=1)[:, :n]
    d = np.take_along_axis(dist, best, 1)
    order = np.argsort(d, axis=1, kind="stable")
    best = np.take_along_axis(best, order, 1)
    d = np.take_along_axis(d, order, 1)
    count = (d < tau).sum(1)            # >= 1: the reference itself
    size = 2 ** np.floor(np.log2(count)).astype(int)
    sh = np.array(shifts)[best]         # (refs, n, 2)
    ry = np.repeat(ys, len(xs))
    rx = np.tile(xs, len(ys))
    return ry, rx, ry[:, None] + sh[..., 0], rx[:, None] + sh[..., 1], size


def aggregate(num, den, my, mx, est, weight, window):
    """Adds each patch estimate (m, n, k, k), times its group's weight and
    the window, at its position."""
    h, w = num.shape
    k = window.shape[0]
    a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    idx = ((my[..., None, None] + a) * w + mx[..., None, None] + b).ravel()
    wk = np.broadcast_to(weight[:, None, None, None] * window, est.shape)
    num += np.bincount(idx, (wk * est).ravel(), h * w).reshape(h, w)
    den += np.bincount(idx, wk.ravel(), h * w).reshape(h, w)


def step(noisy, basic, sigma, params, t2d, wiener):
    """One BM3D step: matches on @basic (the noisy image in step 1),
    filters the groups of @noisy, returns the aggregated estimate."""
    k = params["k"]
    ry, rx, my, mx, size = match(basic, k, params["n"], params["step"],
                                 params["window"], params["tau"])
    t2inv = np.linalg.inv(t2d)
    sn = spectra(noisy, t2d)
    sb = spectra(basic, t2d) if wiener else None
    win = np.outer(np.kaiser(k, KAISER_BETA), np.kaiser(k, KAISER_BETA))
    num = np.zeros_like(noisy)
    den = np.zeros_like(noisy)
    for g in np.unique(size):
        haar = haar_matrix(g)
        refs = np.flatnonzero(size == g)
        for lo in range(0, len(refs), BATCH):
            sel = refs[lo:lo + BATCH]
            gy, gx = my[sel, :g], mx[sel, :g]
            c = np.einsum("ij,mjk->mik", haar, sn[gy, gx])
            if wiener:
                b = np.einsum("ij,mjk->mik", haar, sb[gy, gx])
                scale = b * b / (b * b + sigma * sigma)
                c *= scale
                weight = 1.0 / (sigma * sigma * (scale * scale).sum((1, 2)))
            else:
                keep = np.abs(c) > LAMBDA_3D * sigma
                c *= keep
                kept = keep.sum((1, 2))
                weight = 1.0 / (sigma * sigma * np.maximum(kept, 1))
            c = np.einsum("ji,mjk->mik", haar, c)       # inverse Haar
            est = np.einsum("ia,mnab,jb->mnij", t2inv,
                            c.reshape(len(sel), g, k, k), t2inv,
                            optimize=True)
            aggregate(num, den, gy, gx, est, weight, win)
    return num / den


def bm3d(noisy, sigma):
    """Denoises @noisy (2D float array, 0..255) with noise @sigma."""
    if not 0 < sigma <= MAX_SIGMA:
        raise ValueError("sigma %g: this BM3D has the sigma <= %g profile "
                         "only" % (sigma, MAX_SIGMA))
    noisy = np.asarray(noisy, np.float64)
    k = STEP1["k"]
    if min(noisy.shape) < k:
        raise ValueError("image smaller than a %dx%d patch" % (k, k))
    basic = step(noisy, noisy, sigma, STEP1, bior15_matrix(k), False)
    return step(noisy, basic, sigma, STEP2, dct_matrix(k), True)


def read_gray(path):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout
    w, h = (int(v) for v in probe.strip().split(",")[:2])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w)


def write_gray(path, img):
    h, w = img.shape
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "rawvideo",
         "-pix_fmt", "gray", "-s", "%dx%d" % (w, h), "-i", "-",
         "-frames:v", "1", path],
        input=img.tobytes(), check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sigma", type=float, required=True,
                    help="noise standard deviation on the 0..255 scale")
    ap.add_argument("noisy")
    ap.add_argument("out")
    args = ap.parse_args()
    try:
        out = bm3d(read_gray(args.noisy), args.sigma)
    except (ValueError, subprocess.CalledProcessError) as e:
        sys.exit("bm3d: %s" % e)
    write_gray(args.out, np.clip(np.rint(out), 0, 255).astype(np.uint8))


if __name__ == "__main__":
    main()
