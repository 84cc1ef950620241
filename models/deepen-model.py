#!/usr/bin/env python3
"""Deepen a trained model without changing what it computes (Net2Net's
"deeper" step), so that training can go on from where the shallower model
got to instead of starting again.

After each named conv (which must have act "relu" and keep its channel
count), a new 3x3 conv with the same channels and act "relu" is inserted,
initialised to the identity: its input is already >= 0, so relu(input) is
the input and the model's output is unchanged. Training then moves the new
layers away from the identity. The graph's "training" object is dropped
(the new model has not been trained as it says).

Usage: python3 models/deepen-model.py IN.safetensors OUT.safetensors NODE...
Needs only python3-numpy.
"""
import json
import struct
import sys

import numpy as np


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__")
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} is {t['dtype']}, only F32 is handled")
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(data[b:e], "<f4").reshape(t["shape"])
    return meta, tensors


def write(path, meta, tensors):
    header = {"__metadata__": meta}
    chunks, off = [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, dst, after = sys.argv[1], sys.argv[2], sys.argv[3:]
    meta, tensors = read(src)
    graph = json.loads(meta["ae.graph"])
    graph.pop("training", None)
    names = {n["name"] for n in graph["nodes"]}
    missing = set(after) - names
    if missing:
        sys.exit(f"no node named {', '.join(sorted(missing))}")
    nodes = []
    for node in graph["nodes"]:
        nodes.append(node)
        if node["name"] not in after:
            continue
        w = tensors[node["name"] + ".weight"]
        if node["op"] != "conv2d" or node.get("act") != "relu" or w.shape[0] != w.shape[1]:
            sys.exit(f"{node['name']}: not a relu conv that keeps its channel count")
        new = node["name"] + "i"
        if new in names:
            sys.exit(f"{new}: a node of that name exists")
        ch = w.shape[0]
        # later nodes that read this one read the new layer instead
        for later in graph["nodes"]:
            later["inputs"] = [new if i == node["name"] else i for i in later["inputs"]]
        nodes.append({"name": new, "op": "conv2d", "inputs": [node["name"]],
                      "out": ch, "kernel": 3, "stride": 1, "padding": 1,
                      "act": "relu"})
        ident = np.zeros((ch, ch, 3, 3), np.float32)
        ident[np.arange(ch), np.arange(ch), 1, 1] = 1
        tensors[new + ".weight"] = ident
        tensors[new + ".bias"] = np.zeros(ch, np.float32)
    graph["nodes"] = nodes
    meta["ae.graph"] = json.dumps(graph, separators=(",", ":"))
    write(dst, meta, tensors)


if __name__ == "__main__":
    main()
