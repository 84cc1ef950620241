#!/usr/bin/env python3
"""Writes models/sample-denoise-luma.safetensors: a hand-set (untrained)
luma denoiser used until the trainer ships real models. It averages each
pixel with its neighbours through a 3x3 binomial kernel, computed as two
layers so the sample exercises a multi-node graph:
  e1 = conv3x3(input, 4 filters: binomial blur + 3 zero), relu
  o  = conv1x1(e1) picking the blur channel
Run from the repo root:  python3 models/make-sample.py
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "data"))
from gen_fixtures import np_tensor, st_encode  # noqa: E402

blur = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16.0
w1 = np.zeros((4, 1, 3, 3), np.float32)
w1[0, 0] = blur
b1 = np.zeros(4, np.float32)
w2 = np.zeros((1, 4, 1, 1), np.float32)
w2[0, 0, 0, 0] = 1.0
b2 = np.zeros(1, np.float32)

graph = {
    "task": "denoise", "color": "luma", "scale": 1,
    "nodes": [
        {"name": "e1", "op": "conv2d", "inputs": ["input"], "out": 4,
         "kernel": 3, "act": "relu"},
        {"name": "o", "op": "conv2d", "inputs": ["e1"], "out": 1,
         "kernel": 1, "act": "none"},
    ],
    "output": "o",
    "training": {"data": "none: hand-set binomial blur, not trained"},
}
meta = {"ae.format": "1", "ae.graph": json.dumps(graph)}
tensors = [np_tensor("e1.weight", w1), np_tensor("e1.bias", b1),
           np_tensor("o.weight", w2), np_tensor("o.bias", b2)]
out = os.path.join(os.path.dirname(__file__), "sample-denoise-luma.safetensors")
with open(out, "wb") as f:
    f.write(st_encode(tensors, meta))
print(out)
