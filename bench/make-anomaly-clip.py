#!/usr/bin/python3
"""Labelled anomaly test clip from vtest.avi, and a PCA baseline on it.

vtest.avi (Debian opencv-doc) is 795 frames of a fixed camera watching
pedestrians (768x576, 10 fps). Its first TRAIN_END frames are for training
and calibrating an anomaly model (`--train-out` writes them as a clip, with
the last CALIB frames of them meant as the held-back calibration set); the
later frames become the test clip, into which this script injects events of
every kind the anomaly element should report:

  foreign_object   a textured object (a crop of another photo) left on the
                   floor, and later one carried across the frame
  occlusion        a dark blob over a corner of the lens
  defocus          the whole frame blurred (gaussian, sigma 2.5)
  light_change     the scene 40% darker
  scene_change     a different scene (another photo, panning)

Outputs (MJPG AVI at quality 100, which GStreamer's avidemux + jpegdec read):
  CLIP            the test clip, frames TRAIN_END.. of vtest.avi
  CLIP.labels.csv one line per clip frame: "frame,label" (frame from 0, label
                  "normal" or one of the kinds above); a header line first.
                  Consecutive frames with one non-normal label are one event.

`--pca` also scores the clip with a PCA reconstruction-error baseline fitted
on the training frames (grayscale, downscaled) and prints its ROC AUC, and
how many events its threshold (fixed on the calibration frames the same way
ae_anomaly_calibrate does for its score) catches.

Usage: /usr/bin/python3 bench/make-anomaly-clip.py OUT.avi [--train-out T.avi]
       [--pca] [--source vtest.avi]
Needs python3-numpy and python3-opencv (Debian).
"""
import argparse
import os
import sys

import cv2
import numpy as np

DATA = "/usr/share/doc/opencv-doc/examples/data"
TRAIN_END = 500                 # frames 0..499: training (and calibration)
CALIB = 100                     # the last 100 of them: held back to calibrate

# (start, length, label) in clip frames; everything else is normal.
EVENTS = [
    (25, 20, "foreign_object"),
    (70, 20, "occlusion"),
    (115, 20, "defocus"),
    (160, 20, "light_change"),
    (205, 20, "scene_change"),
    (250, 20, "foreign_object"),
]


def soft_mask(h, w, feather):
    """Ellipse mask 0..1 with a blurred edge, h x w."""
    m = np.zeros((h, w), np.float32)
    cv2.ellipse(m, (w // 2, h // 2), (w // 2 - feather, h // 2 - feather),
                0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(m, (0, 0), feather / 2.0)[..., None]


def paste(frame, obj, mask, x, y):
    h, w = obj.shape[:2]
    roi = frame[y:y + h, x:x + w].astype(np.float32)
    frame[y:y + h, x:x + w] = np.clip(roi * (1 - mask) + obj * mask + 0.5,
                                      0, 255).astype(np.uint8)


def load(name, size=None):
    img = cv2.imread(os.path.join(DATA, name), cv2.IMREAD_COLOR)
    if img is None:
        sys.exit("make-anomaly-clip: cannot read %s (install opencv-doc)" % name)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA) if size else img


class Injector:
    def __init__(self, width, height):
        self.w, self.h = width, height
        fruits = load("fruits.jpg")
        self.bag = cv2.resize(fruits[100:260, 150:330], (56, 48)).astype(np.float32)
        self.bag_mask = soft_mask(48, 56, 4)
        self.box = cv2.resize(load("baboon.jpg"), (120, 96)).astype(np.float32)
        self.box_mask = soft_mask(96, 120, 6)
        self.scene = load("building.jpg", (int(width * 1.3), int(height * 1.3)))

    def apply(self, frame, label, k, n):
        """Event @label at its frame @k of @n."""
        W, H = self.w, self.h
        if label == "foreign_object" and self.first_object:
            paste(frame, self.bag, self.bag_mask, int(W * 0.55), int(H * 0.62))
        elif label == "foreign_object":
            x = int((W - 140) * k / max(1, n - 1)) + 10
            paste(frame, self.box, self.box_mask, x, int(H * 0.45))
        elif label == "occlusion":
            m = np.zeros((H, W), np.float32)
            cv2.ellipse(m, (0, H), (int(W * 0.45), int(H * 0.6)), 0, 0, 360, 1.0, -1)
            m = cv2.GaussianBlur(m, (0, 0), 25)[..., None]
            dark = np.full_like(frame, 18, np.float32)
            frame[:] = np.clip(frame * (1 - m) + dark * m + 0.5, 0, 255).astype(np.uint8)
        elif label == "defocus":
            frame[:] = cv2.GaussianBlur(frame, (0, 0), 2.5)
        elif label == "light_change":
            frame[:] = np.clip(frame.astype(np.float32) * 0.6 + 0.5, 0, 255).astype(np.uint8)
        elif label == "scene_change":
            dx = int((self.scene.shape[1] - W) * k / max(1, n - 1))
            frame[:] = self.scene[:H, dx:dx + W]
        else:
            raise ValueError(label)


def labels_for(n):
    labels = ["normal"] * n
    for start, length, label in EVENTS:
        for i in range(start, min(n, start + length)):
            labels[i] = label
    return labels


def event_runs(labels):
    """[(first, last, label)] of consecutive non-normal frames."""
    runs, i = [], 0
    while i < len(labels):
        if labels[i] == "normal":
            i += 1
            continue
        j = i
        while j + 1 < len(labels) and labels[j + 1] == labels[i]:
            j += 1
        runs.append((i, j, labels[i]))
        i = j + 1
    return runs


def writer(path, w, h, fps):
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not vw.isOpened():
        sys.exit("make-anomaly-clip: cannot write %s" % path)
    vw.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    return vw


def roc_auc(scores, positive):
    """Mann-Whitney AUC with ties counted half."""
    s = np.asarray(scores, np.float64)
    p = np.asarray(positive, bool)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    n_pos, n_neg = p.sum(), (~p).sum()
    return (ranks[p].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def pca_baseline(train, calib, clip, labels, k=16):
    """Per-frame mean squared PCA reconstruction error (pixels 0..1 of 96x72
    grayscale frames), components fitted on @train."""
    def prep(frames):
        return np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (96, 72),
                                    interpolation=cv2.INTER_AREA).ravel()
                         for f in frames]).astype(np.float64) / 255.0
    x = prep(train)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:k]

    def err(frames):
        d = prep(frames) - mean
        return ((d - d @ basis.T @ basis) ** 2).mean(1)
    e_cal = err(calib)
    e = err(clip)
    # Threshold as for our score: robust z of the error, above the calibration
    # frames' highest by the same margin (floor 5).
    med = np.median(e_cal)
    mad = max(1.4826 * np.median(np.abs(e_cal - med)), 1e-12)
    z = (e - med) / mad
    thr = max(5.0, 1.25 * ((e_cal - med) / mad).max())
    pos = np.array([lab != "normal" for lab in labels])
    auc = roc_auc(z, pos)
    caught = sum(1 for a, b, _ in event_runs(labels) if (z[a:b + 1] > thr).any())
    fa = (z[~pos] > thr).mean()
    print("PCA baseline (k=%d, 96x72 gray, fitted on %d frames): AUC %.4f, "
          "events caught %d/%d, false alarms %.1f%% at threshold %.2f"
          % (k, len(train), auc, caught, len(event_runs(labels)), 100 * fa, thr))
    return auc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="test clip to write (.avi)")
    ap.add_argument("--train-out", help="also write the normal frames 0..%d" % (TRAIN_END - 1))
    ap.add_argument("--pca", action="store_true", help="print the PCA baseline's figures")
    ap.add_argument("--source", default=os.path.join(DATA, "vtest.avi"))
    a = ap.parse_args()

    cap = cv2.VideoCapture(a.source)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    if len(frames) <= TRAIN_END:
        sys.exit("make-anomaly-clip: %s: %d frames, need more than %d (install opencv-doc)"
                 % (a.source, len(frames), TRAIN_END))
    h, w = frames[0].shape[:2]
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0

    test = [f.copy() for f in frames[TRAIN_END:]]
    labels = labels_for(len(test))
    inj = Injector(w, h)
    objects = 0
    for first, last, label in event_runs(labels):
        if label == "foreign_object":
            objects += 1
        inj.first_object = objects == 1
        for i in range(first, last + 1):
            inj.apply(test[i], label, i - first, last - first + 1)

    vw = writer(a.out, w, h, fps)
    for f in test:
        vw.write(f)
    vw.release()
    with open(a.out + ".labels.csv", "w") as fp:
        fp.write("frame,label\n")
        for i, lab in enumerate(labels):
            fp.write("%d,%s\n" % (i, lab))
    if a.train_out:
        vw = writer(a.train_out, w, h, fps)
        for f in frames[:TRAIN_END]:
            vw.write(f)
        vw.release()
    runs = event_runs(labels)
    print("%s: %d frames %dx%d, %d events (%s), %d normal frames; labels in %s"
          % (a.out, len(test), w, h, len(runs), ", ".join(sorted({r[2] for r in runs})),
             labels.count("normal"), a.out + ".labels.csv"))
    if a.pca:
        # Score what was written (JPEG-compressed), as the model sees it.
        cap = cv2.VideoCapture(a.out)
        clip = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            clip.append(f)
        pca_baseline(frames[:TRAIN_END - CALIB], frames[TRAIN_END - CALIB:TRAIN_END],
                     clip, labels)


if __name__ == "__main__":
    main()
