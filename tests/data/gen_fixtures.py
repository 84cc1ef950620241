#!/usr/bin/python3
"""Generate the model fixtures in tests/data/models/.

Run from the repository root with Debian's interpreter (torch, numpy; no
safetensors package needed):

    /usr/bin/python3 tests/data/gen_fixtures.py

For every model this writes
  models/<name>.safetensors     the model (docs/MODEL-FORMAT.md), random weights
  models/<name>.io.safetensors  F32 tensors input.K [1,C,H,W] and output.K, the
                                expected result of the whole model (frame
                                padding and cropping included) on input.K
and models/fixtures.txt, one line "<name> <number of io pairs>" per model.

The expected outputs come from a tiny interpreter of the `ae.graph` JSON built
on torch.nn.functional and run in float64, so the fixtures test the C engine
against PyTorch's definitions of the ops and not against our own code.

The file also holds the safetensors writer/reader and a reference validator
(the checks of the C loader, in the same order) that gen_broken.py imports.
Output is byte-for-byte deterministic.
"""

import json
import os
import re
import struct
import sys
import zlib
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# safetensors

ST_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


def st_pack(header_json, data, align=True):
    """Length prefix + header + data. The reference implementation pads the
    header with spaces to a multiple of 8; do the same so readers must accept
    trailing whitespace."""
    if align:
        header_json += b" " * (-len(header_json) % 8)
    return struct.pack("<Q", len(header_json)) + header_json + data


def st_header_json(header):
    return json.dumps(header, separators=(",", ":")).encode("ascii")


def st_encode(tensors, metadata):
    """tensors: list of (name, dtype, shape, raw bytes), laid out in order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    return st_pack(st_header_json(header), b"".join(t[3] for t in tensors))


def np_tensor(name, arr, dtype="F32"):
    arr = np.ascontiguousarray(arr, dtype=ST_DTYPES[dtype])
    return (name, dtype, arr.shape, arr.tobytes())


class ModelError(Exception):
    pass


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def st_decode(buf):
    """Checks the container the way the C reader does (every tensor entry,
    then exact coverage) and returns (metadata, {name: float64 array},
    {name: dtype})."""
    if len(buf) < 8:
        raise ModelError("file is too short (%d bytes)" % len(buf))
    n = struct.unpack("<Q", buf[:8])[0]
    if n > len(buf) - 8 or n > 64 << 20:
        raise ModelError("header length %d exceeds the file size" % n)
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError("header is not valid JSON: %s" % e)
    if not isinstance(header, dict):
        raise ModelError("header JSON is not an object")
    data = buf[8 + n:]
    meta = {}
    spans = []
    arrays = {}
    for name, t in header.items():
        if name == "__metadata__":
            if not isinstance(t, dict):
                raise ModelError("__metadata__ is not a JSON object")
            for k, v in t.items():
                if not isinstance(v, str):
                    raise ModelError("__metadata__ value '%s' is not a string" % k)
            meta = t
            continue
        if not isinstance(t, dict):
            raise ModelError("tensor '%s' is not a JSON object" % name)
        if t.get("dtype") not in ST_DTYPES:
            raise ModelError("tensor '%s' has dtype %s; only F32 and F16"
                             % (name, t.get("dtype")))
        shape = t.get("shape")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ModelError("tensor '%s' has an invalid shape" % name)
        offs = t.get("data_offsets")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(_is_int(o) for o in offs)):
            raise ModelError("tensor '%s' has no valid data_offsets" % name)
        b, e = offs
        if not (0 <= b <= e <= len(data)):
            raise ModelError("tensor '%s' data_offsets [%d, %d] are out of range"
                             % (name, b, e))
        dt = ST_DTYPES[t["dtype"]]
        want = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if e - b != want:
            raise ModelError("tensor '%s' occupies %d bytes but its size is %d"
                             % (name, e - b, want))
        spans.append((b, e, name))
        arrays[name] = np.frombuffer(data[b:e], dtype=dt).reshape(shape).astype(np.float64)
    pos = 0
    prev = None
    for b, e, name in sorted(spans):
        if b < pos:
            raise ModelError("tensor '%s' data overlaps tensor '%s'" % (name, prev))
        if b > pos:
            raise ModelError("data bytes %d..%d are not covered by any tensor" % (pos, b))
        pos, prev = e, name
    if pos != len(data):
        raise ModelError("data bytes %d..%d are not covered by any tensor" % (pos, len(data)))
    return meta, arrays, {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}


# ---------------------------------------------------------------------------
# ae.graph: defaults, validation, shape bookkeeping

ACTS = ("none", "relu", "leaky_relu", "sigmoid", "tanh")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CHANNELS = {"luma": 1, "rgb": 3}


def conv_fields(n):
    """A conv node's fields with the defaults of MODEL-FORMAT.md filled in."""
    k = n["kernel"]
    d = n.get("dilation", 1)
    transposed = n["op"] == "conv_transpose2d"
    return dict(out=n["out"], kernel=k, stride=n.get("stride", 1),
                padding=n.get("padding", 0 if transposed else (k // 2) * d),
                dilation=d, output_padding=n.get("output_padding", 0),
                act=n.get("act", "none"), slope=n.get("slope", 0.01),
                bias=n.get("bias", True))


def pool_fields(n):
    return dict(kernel=n["kernel"], stride=n.get("stride", n["kernel"]),
                padding=n.get("padding", 0))


def _rng(n, key, lo, hi):
    v = n.get(key)
    if not _is_int(v) or not lo <= v <= hi:
        raise ModelError("node '%s': %s %r is out of range (%d..%d)"
                         % (n["name"], key, v, lo, hi))


def topo_order(nodes):
    """Kahn's algorithm; the graph's node list may be in any order."""
    by_name = {n["name"]: n for n in nodes}
    deps = {n["name"]: set(i for i in n["inputs"] if i != "input") for n in nodes}
    order = []
    ready = [n["name"] for n in nodes if not deps[n["name"]]]
    users = {}
    for n in nodes:
        for i in set(n["inputs"]):
            users.setdefault(i, []).append(n["name"])
    while ready:
        name = ready.pop(0)
        order.append(by_name[name])
        for u in users.get(name, []):
            deps[u].discard(name)
            if not deps[u] and by_name[u] not in order and u not in ready:
                ready.append(u)
    if len(order) != len(nodes):
        left = sorted(set(by_name) - set(n["name"] for n in order))
        raise ModelError("the graph has a cycle through node '%s'" % left[0])
    return order


def validate_graph(g):
    """The graph checks of the C loader. Returns (topological node list,
    {name: (channels, Fraction downsampling relative to input)})."""
    if not isinstance(g, dict):
        raise ModelError("ae.graph is not a JSON object")
    if g.get("task") not in ("denoise", "superres", "anomaly"):
        raise ModelError("unknown task %r" % g.get("task"))
    if g.get("color") not in CHANNELS:
        raise ModelError("unknown color %r" % g.get("color"))
    scale = g.get("scale", 1)
    if not _is_int(scale) or not 1 <= scale <= 8:
        raise ModelError("scale %r is out of range (1..8)" % scale)
    if scale != 1 and g["task"] != "superres":
        raise ModelError("scale must be 1 for task %s" % g["task"])
    nodes = g.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ModelError("the graph has no nodes")
    if len(nodes) > 256:
        raise ModelError("too many nodes")
    names = set()
    for n in nodes:
        name = n.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name) or name == "input":
            raise ModelError("invalid node name %r" % name)
        if name in names:
            raise ModelError("duplicate node name '%s'" % name)
        names.add(name)
    ops = ("conv2d", "conv_transpose2d", "pixel_shuffle", "pixel_unshuffle",
           "upsample", "max_pool2d", "avg_pool2d", "add", "concat", "act")
    for n in nodes:
        op = n.get("op")
        if op not in ops:
            raise ModelError("node '%s' has unknown op %r" % (n["name"], op))
        ins = n.get("inputs")
        if not isinstance(ins, list) or not ins or len(ins) > 16:
            raise ModelError("node '%s' has bad inputs" % n["name"])
        multi = op in ("add", "concat")
        if (len(ins) < 2) if multi else (len(ins) != 1):
            raise ModelError("node '%s': %s takes %s" % (
                n["name"], op, "at least 2 inputs" if multi else "1 input"))
        for i in ins:
            if i != "input" and i not in names:
                raise ModelError("node '%s' has unknown input '%s'" % (n["name"], i))
        if op in ("conv2d", "conv_transpose2d"):
            _rng(n, "out", 1, 4096)
            _rng(n, "kernel", 1, 15)
            f = conv_fields(n)
            for key, lo, hi in (("stride", 1, 8), ("padding", 0, 64), ("dilation", 1, 16)):
                if key in n:
                    _rng(n, key, lo, hi)
            if op == "conv_transpose2d" and "output_padding" in n:
                _rng(n, "output_padding", 0, f["stride"] - 1)
            if f["act"] not in ACTS:
                raise ModelError("node '%s': unknown act %r" % (n["name"], f["act"]))
        elif op in ("pixel_shuffle", "pixel_unshuffle", "upsample"):
            _rng(n, "factor", 2, 8)
            if op == "upsample" and n.get("mode", "nearest") not in ("nearest", "bilinear"):
                raise ModelError("node '%s': unknown mode" % n["name"])
        elif op in ("max_pool2d", "avg_pool2d"):
            _rng(n, "kernel", 1, 15)
            if "stride" in n:
                _rng(n, "stride", 1, 15)
            if "padding" in n:
                _rng(n, "padding", 0, n["kernel"] // 2)
        elif op == "act":
            if n.get("act") not in ACTS:
                raise ModelError("node '%s': unknown act %r" % (n["name"], n.get("act")))
    out = g.get("output")
    if out not in names:
        raise ModelError("output %r names no node" % (out,))
    order = topo_order(nodes)
    # Every node must feed the output: a typo'd input name leaves one dangling.
    live = {out}
    for n in reversed(order):
        if n["name"] in live:
            live.update(n["inputs"])
    for n in nodes:
        if n["name"] not in live:
            raise ModelError("node '%s' is unused (does not lead to the output)" % n["name"])
    shapes = {"input": (CHANNELS[g["color"]], Fraction(1))}
    for n in order:
        ins = [shapes[i] for i in n["inputs"]]
        c, f = ins[0]
        op = n["op"]
        if op == "conv2d":
            c, f = n["out"], f * conv_fields(n)["stride"]
        elif op == "conv_transpose2d":
            c, f = n["out"], f / conv_fields(n)["stride"]
        elif op == "pixel_shuffle":
            if c % (n["factor"] ** 2):
                raise ModelError("node '%s': %d channels do not divide by %d"
                                 % (n["name"], c, n["factor"] ** 2))
            c, f = c // n["factor"] ** 2, f / n["factor"]
        elif op == "pixel_unshuffle":
            c, f = c * n["factor"] ** 2, f * n["factor"]
        elif op == "upsample":
            f = f / n["factor"]
        elif op in ("max_pool2d", "avg_pool2d"):
            f = f * pool_fields(n)["stride"]
        elif op == "add":
            if any(ci != c for ci, _ in ins):
                raise ModelError("node '%s' adds tensors of different channel counts %s"
                                 % (n["name"], [ci for ci, _ in ins]))
            if any(fi != f for _, fi in ins):
                raise ModelError("node '%s' adds tensors of different sizes" % n["name"])
        elif op == "concat":
            if any(fi != f for _, fi in ins):
                raise ModelError("node '%s' concatenates tensors of different sizes" % n["name"])
            c = sum(ci for ci, _ in ins)
        shapes[n["name"]] = (c, f)
    oc, of = shapes[out]
    if oc != CHANNELS[g["color"]]:
        raise ModelError("output has %d channels, %s needs %d"
                         % (oc, g["color"], CHANNELS[g["color"]]))
    if of != Fraction(1, scale):
        raise ModelError("scale is %d but the network scales by %s" % (scale, 1 / of))
    return order, shapes


def total_stride(shapes):
    s = max(shapes.values(), key=lambda cf: cf[1])[1]
    assert s.denominator == 1, s
    s = int(s)
    for _, f in shapes.values():
        assert f.denominator != 1 or s % f.numerator == 0, "stride %s vs %s" % (s, f)
    return s


def expected_tensors(order, shapes):
    """{tensor name: shape} the graph needs."""
    want = {}
    for n in order:
        if n["op"] not in ("conv2d", "conv_transpose2d"):
            continue
        f = conv_fields(n)
        cin = shapes[n["inputs"][0]][0]
        k = f["kernel"]
        if n["op"] == "conv2d":
            want[n["name"] + ".weight"] = [f["out"], cin, k, k]
        else:
            want[n["name"] + ".weight"] = [cin, f["out"], k, k]
        if f["bias"]:
            want[n["name"] + ".bias"] = [f["out"]]
    return want


def validate(buf):
    """Everything the C loader checks, in its order. Returns (graph, order,
    shapes, {tensor: float64 array}, {tensor: dtype})."""
    meta, arrays, dtypes = st_decode(buf)
    if "ae.graph" not in meta:
        raise ModelError("no ae.graph in __metadata__")
    if meta.get("ae.format") != "1":
        raise ModelError("ae.format is %r, this reader knows \"1\"" % meta.get("ae.format"))
    try:
        g = json.loads(meta["ae.graph"])
    except ValueError as e:
        raise ModelError("ae.graph is not valid JSON: %s" % e)
    order, shapes = validate_graph(g)
    want = expected_tensors(order, shapes)
    for name in want:
        if name not in arrays:
            raise ModelError("missing tensor '%s'" % name)
    for name in arrays:
        if name not in want:
            raise ModelError("unexpected tensor '%s'" % name)
    for name, shape in want.items():
        if list(arrays[name].shape) != shape:
            node, kind = name.rsplit(".", 1)
            raise ModelError("node '%s' expects %s %s, file has %s" % (
                node, kind, "x".join(map(str, shape)),
                "x".join(map(str, arrays[name].shape))))
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ModelError("tensor '%s' is not finite" % name)
    return g, order, shapes, arrays, dtypes


# ---------------------------------------------------------------------------
# Reference forward pass (float64, torch.nn.functional)

def mirror_index(n, m):
    """Source index for each of m >= n positions: reflection with period
    2(n-1), edge repeat when n == 1. The pad may exceed n-1, so F.pad's
    reflect mode (which refuses that) is not used."""
    if n == 1:
        return [0] * m
    p = 2 * (n - 1)
    out = []
    for x in range(m):
        x %= p
        out.append(p - x if x >= n else x)
    return out


def apply_act(torch, F, x, act, slope):
    if act == "relu":
        return F.relu(x)
    if act == "leaky_relu":
        return F.leaky_relu(x, negative_slope=slope)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "tanh":
        return torch.tanh(x)
    assert act == "none"
    return x


def eval_node(torch, F, n, ins, conv):
    """Node @n on torch tensors @ins (NCHW); conv(n, x) runs a conv2d or
    conv_transpose2d node's convolution, before its activation."""
    op = n["op"]
    if op in ("conv2d", "conv_transpose2d"):
        f = conv_fields(n)
        return apply_act(torch, F, conv(n, ins[0]), f["act"], f["slope"])
    if op == "pixel_shuffle":
        return F.pixel_shuffle(ins[0], n["factor"])
    if op == "pixel_unshuffle":
        return F.pixel_unshuffle(ins[0], n["factor"])
    if op == "upsample":
        if n.get("mode", "nearest") == "nearest":
            return F.interpolate(ins[0], scale_factor=n["factor"], mode="nearest")
        return F.interpolate(ins[0], scale_factor=n["factor"], mode="bilinear",
                             align_corners=False)
    if op in ("max_pool2d", "avg_pool2d"):
        f = pool_fields(n)
        pool = F.max_pool2d if op == "max_pool2d" else F.avg_pool2d
        return pool(ins[0], f["kernel"], f["stride"], f["padding"])
    if op == "add":
        y = ins[0]
        for i in ins[1:]:
            y = y + i
        return y
    if op == "concat":
        return torch.cat(ins, dim=1)
    if op == "act":
        return apply_act(torch, F, ins[0], n["act"], n.get("slope", 0.01))
    raise AssertionError(op)


def forward(g, order, shapes, params, x):
    """x: float64 numpy [1,C,H,W] -> float64 numpy [1,C,H*scale,W*scale]."""
    import torch
    import torch.nn.functional as F
    S = total_stride(shapes)
    scale = g.get("scale", 1)
    _, _, H, W = x.shape
    Hp, Wp = -(-H // S) * S, -(-W // S) * S
    t = torch.from_numpy(x)
    t = t[:, :, mirror_index(H, Hp), :][:, :, :, mirror_index(W, Wp)]
    P = {k: torch.from_numpy(v) for k, v in params.items()}

    def conv(n, x):
        f = conv_fields(n)
        w, b = P[n["name"] + ".weight"], P.get(n["name"] + ".bias")
        if n["op"] == "conv2d":
            return F.conv2d(x, w, b, stride=f["stride"], padding=f["padding"],
                            dilation=f["dilation"])
        return F.conv_transpose2d(x, w, b, stride=f["stride"], padding=f["padding"],
                                  output_padding=f["output_padding"], groups=1,
                                  dilation=f["dilation"])

    vals = {"input": t}
    for n in order:
        name = n["name"]
        y = eval_node(torch, F, n, [vals[i] for i in n["inputs"]], conv)
        c, fr = shapes[name]
        assert y.shape[1] == c and y.shape[2] * fr == Hp and y.shape[3] * fr == Wp, \
            (name, tuple(y.shape), c, fr, Hp, Wp)
        vals[name] = y
    y = vals[g["output"]]
    assert tuple(y.shape[2:]) == (Hp * scale, Wp * scale)
    return y[:, :, :H * scale, :W * scale].numpy()


def torch_module(path):
    """An nn.Module computing the graph of the model file @path with its
    weights (for the benchmarks against PyTorch), and the graph."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    with open(path, "rb") as fp:
        meta, tensors = st_decode(fp.read())[:2]
    g = json.loads(meta["ae.graph"])
    order, _ = validate_graph(g)

    def tensor(name):
        return torch.from_numpy(np.asarray(tensors[name], np.float32))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleDict()
            for n in order:
                if n["op"] not in ("conv2d", "conv_transpose2d"):
                    continue
                f = conv_fields(n)
                w = tensor(n["name"] + ".weight")
                if n["op"] == "conv2d":
                    m = nn.Conv2d(w.shape[1], w.shape[0], f["kernel"], f["stride"],
                                  f["padding"], f["dilation"], bias=f["bias"])
                else:
                    m = nn.ConvTranspose2d(w.shape[0], w.shape[1], f["kernel"], f["stride"],
                                           f["padding"], f["output_padding"],
                                           dilation=f["dilation"], bias=f["bias"])
                m.weight.data.copy_(w)
                if f["bias"]:
                    m.bias.data.copy_(tensor(n["name"] + ".bias"))
                self.convs[n["name"]] = m

        def forward(self, x):
            vals = {"input": x}
            for n in order:
                vals[n["name"]] = eval_node(torch, F, n, [vals[i] for i in n["inputs"]],
                                            lambda n, x: self.convs[n["name"]](x))
            return vals[g["output"]]

    return Net(), g


# ---------------------------------------------------------------------------
# The fixture models

def conv(name, inp, out, kernel=3, **kw):
    d = {"name": name, "op": "conv2d", "inputs": [inp], "out": out, "kernel": kernel}
    d.update(kw)
    return d


def convt(name, inp, out, kernel, **kw):
    d = {"name": name, "op": "conv_transpose2d", "inputs": [inp], "out": out,
         "kernel": kernel}
    d.update(kw)
    return d


def node(name, op, inputs, **kw):
    d = {"name": name, "op": op, "inputs": list(inputs)}
    d.update(kw)
    return d


def graph(task, color, nodes, output, scale=1, **extra):
    g = {"task": task, "color": color, "scale": scale, "nodes": nodes, "output": output}
    g.update(extra)
    return g


def chain(prefix, inp, widths, act, last_out):
    """conv3x3 layers prefix1..prefixN with `act`, the last to last_out, act none."""
    nodes = []
    for i, w in enumerate(widths + [last_out]):
        last = i == len(widths)
        nodes.append(conv("%s%d" % (prefix, i + 1), inp, w, act="none" if last else act))
        inp = nodes[-1]["name"]
    return nodes, inp


def model_dncnn():
    nodes, last = chain("c", "input", [16] * 16, "relu", 1)
    nodes.append(node("y", "add", [last, "input"]))
    return graph("denoise", "luma", nodes, "y",
                 training={"note": "random weights: a test fixture, not a denoiser",
                           "generator": "tests/data/gen_fixtures.py"})


def model_light():
    nodes, last = chain("c", "input", [32] * 7, "relu", 1)
    nodes.append(node("y", "add", [last, "input"]))
    return graph("denoise", "luma", nodes, "y")


def model_unet():
    nodes = [
        conv("e1", "input", 16, act="relu"),
        conv("d1", "e1", 32, stride=2, act="relu"),
        conv("d2", "d1", 32, stride=2, act="relu"),
        conv("b", "d2", 128),
        node("u1", "pixel_shuffle", ["b"], factor=2),
        node("c1", "concat", ["u1", "d1"]),
        conv("m1", "c1", 64, act="relu"),
        node("u2", "pixel_shuffle", ["m1"], factor=2),
        node("c2", "concat", ["u2", "e1"]),
        conv("o", "c2", 1),
        node("y", "add", ["o", "input"]),
    ]
    return graph("denoise", "luma", nodes, "y")


def model_espcn2():
    nodes = [
        conv("f1", "input", 32, kernel=5, act="tanh"),
        conv("f2", "f1", 16, act="tanh"),
        conv("f3", "f2", 4),
        node("ps", "pixel_shuffle", ["f3"], factor=2),
    ]
    return graph("superres", "luma", nodes, "ps", scale=2)


def model_ops_misc():
    nodes = [
        node("u", "pixel_unshuffle", ["input"], factor=2),            # 4ch, /2
        conv("a", "u", 8, dilation=2, act="leaky_relu", slope=0.2),    # padding 2 by default
        node("mp", "max_pool2d", ["a"], kernel=2),                     # /4
        node("mp3", "max_pool2d", ["a"], kernel=3, stride=2, padding=1),
        node("ms", "add", ["mp", "mp3"]),
        conv("b", "ms", 8, act="relu", bias=False),
        node("bu", "upsample", ["b"], factor=2),                       # back to /2
        node("ap", "avg_pool2d", ["a"], kernel=3, stride=1, padding=1),
        node("s", "add", ["bu", "ap", "a"]),
        node("cat", "concat", ["s", "u"]),                             # 12ch
        node("sg", "act", ["cat"], act="sigmoid"),
        convt("t", "sg", 4, 4, stride=2, padding=1, act="tanh"),       # full res
        node("lr", "act", ["t"], act="leaky_relu"),                    # default slope
        conv("o", "lr", 1, kernel=5, padding=2),
        node("y", "add", ["o", "input"]),
    ]
    # Listed backwards: the loader must sort the graph itself.
    return graph("denoise", "luma", nodes[::-1], "y")


def model_bilinear():
    nodes = [
        conv("f", "input", 8, act="relu"),
        node("up", "upsample", ["f"], factor=2, mode="bilinear"),
        conv("g", "up", 1),
        convt("t", "f", 1, 3, stride=2, padding=1, output_padding=1),
        node("y", "add", ["g", "t"]),
    ]
    return graph("superres", "luma", nodes, "y", scale=2)


def model_rgb():
    nodes, last = chain("c", "input", [16, 16], "tanh", 3)
    nodes.append(node("y", "add", [last, "input"]))
    return graph("denoise", "rgb", nodes, "y")


def model_anomaly():
    nodes = [
        conv("e1", "input", 16, stride=2, act="relu"),
        conv("e2", "e1", 8, stride=2, act="relu"),
        convt("d1", "e2", 16, 4, stride=2, padding=1, act="relu"),
        convt("d2", "d1", 1, 3, stride=2, padding=1, output_padding=1, act="sigmoid"),
    ]
    return graph("anomaly", "luma", nodes, "d2")


def model_identity():
    return graph("denoise", "luma", [conv("c", "input", 1, kernel=1)], "c")


# name -> (graph builder, dtype, (W, H) sizes)
SIZES = [(1, 1), (17, 9), (9, 17), (32, 32), (61, 47)]
SIZES_S4 = SIZES + [(2, 3), (5, 2)]     # pads by more than W-1 at stride 4
MODELS = [
    ("dncnn", model_dncnn, "F32", SIZES),
    ("light", model_light, "F32", SIZES),
    ("light_f16", model_light, "F16", SIZES),
    ("unet", model_unet, "F32", SIZES_S4),
    ("espcn2", model_espcn2, "F32", SIZES),
    ("ops_misc", model_ops_misc, "F32", SIZES_S4),
    ("bilinear", model_bilinear, "F32", SIZES),
    ("rgb", model_rgb, "F32", SIZES),
    ("anomaly", model_anomaly, "F32", SIZES_S4),
    ("identity", model_identity, "F32", SIZES),
]


def random_params(order, shapes, rng):
    """PyTorch-like uniform init, scaled per activation (He gain for relu) so
    activations stay O(1) through 17 layers; small nonzero biases."""
    params = {}
    for n in order:
        if n["op"] not in ("conv2d", "conv_transpose2d"):
            continue
        f = conv_fields(n)
        cin = shapes[n["inputs"][0]][0]
        k = f["kernel"]
        if n["op"] == "conv2d":
            shape = (f["out"], cin, k, k)
            fan_in = cin * k * k
        else:
            shape = (cin, f["out"], k, k)
            fan_in = max(1, cin * k * k // (f["stride"] ** 2))
        gain = 2 ** 0.5 if f["act"] in ("relu", "leaky_relu") else 1.0
        bound = gain * (3.0 / fan_in) ** 0.5
        params[n["name"] + ".weight"] = rng.uniform(-bound, bound, shape)
        if f["bias"]:
            params[n["name"] + ".bias"] = rng.uniform(-0.1, 0.1, (f["out"],))
    return params


def model_metadata(g):
    return {"ae.format": "1", "ae.graph": json.dumps(g),
            "generator": "tests/data/gen_fixtures.py"}


def build_model(name, make, dtype):
    g = make()
    order, shapes = validate_graph(g)
    # light_f16 shares light's seed: same weights (before rounding), same inputs.
    rng = np.random.RandomState(zlib.crc32(name.replace("_f16", "").encode()))
    if name == "identity":
        params = {"c.weight": np.ones((1, 1, 1, 1)), "c.bias": np.zeros((1,))}
    else:
        params = random_params(order, shapes, rng)
    tensors = [np_tensor(k, params[k], dtype) for k in sorted(params)]
    return g, model_metadata(g), tensors, rng


def main():
    import torch
    torch.set_num_threads(1)            # fixed summation order: same bytes every run
    outdir = os.path.join(HERE, "models")
    os.makedirs(outdir, exist_ok=True)
    manifest = []
    for name, make, dtype, sizes in MODELS:
        g, meta, tensors, rng = build_model(name, make, dtype)
        # The reference uses exactly the weights as stored (after F16 rounding).
        blob = st_encode(tensors, meta)
        g2, order, shapes, params, dtypes = validate(blob)
        assert g2 == g and set(dtypes.values()) == {dtype}
        C = CHANNELS[g["color"]]
        io = []
        outs = []
        for k, (W, H) in enumerate(sizes):
            x = rng.uniform(0.0, 1.0, (1, C, H, W)).astype(np.float32)
            y = forward(g, order, shapes, params, x.astype(np.float64)).astype(np.float32)
            assert y.shape == (1, C, H * g["scale"], W * g["scale"])
            assert np.all(np.isfinite(y))
            if name == "identity":
                assert np.array_equal(x, y)
            io.append(np_tensor("input.%d" % k, x))
            io.append(np_tensor("output.%d" % k, y))
            outs.append((x, y))
        if g["task"] == "anomaly":
            # Calibration from the fixture's own inputs: per-frame MSE.
            errs = [float(np.mean((yy.astype(np.float64) - xx) ** 2)) for xx, yy in outs]
            g["anomaly"] = {"mean": round(float(np.mean(errs)), 6),
                            "std": round(float(np.std(errs)), 6), "threshold": 4.0}
            meta = model_metadata(g)
            blob = st_encode(tensors, meta)
            assert validate(blob)[0] == g
        with open(os.path.join(outdir, name + ".safetensors"), "wb") as fp:
            fp.write(blob)
        io_blob = st_encode(io, {"model": name + ".safetensors"})
        with open(os.path.join(outdir, name + ".io.safetensors"), "wb") as fp:
            fp.write(io_blob)
        manifest.append("%s %d" % (name, len(sizes)))
        self_check(outdir, name, sizes)
        stats = ", ".join("%dx%d" % s for s in sizes)
        print("%-10s %s %d params, S=%d, io %s" % (
            name, dtype, sum(int(np.prod(t[2])) for t in tensors),
            total_stride(shapes), stats))
    with open(os.path.join(outdir, "fixtures.txt"), "w") as fp:
        fp.write("\n".join(manifest) + "\n")


def self_check(outdir, name, sizes):
    """Read both files back with our own reader and recompute the outputs."""
    with open(os.path.join(outdir, name + ".safetensors"), "rb") as fp:
        g, order, shapes, params, _ = validate(fp.read())
    with open(os.path.join(outdir, name + ".io.safetensors"), "rb") as fp:
        meta, io, dtypes = st_decode(fp.read())
    assert set(dtypes.values()) == {"F32"} and len(io) == 2 * len(sizes)
    for k, (W, H) in enumerate(sizes):
        x, y = io["input.%d" % k], io["output.%d" % k]
        assert x.shape == (1, CHANNELS[g["color"]], H, W)
        y2 = forward(g, order, shapes, params, x).astype(np.float32)
        assert np.array_equal(y2.astype(np.float64), y), (name, k)


if __name__ == "__main__":
    sys.exit(main())
