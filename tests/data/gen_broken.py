#!/usr/bin/python3
"""Generate broken model files in tests/data/broken/ for the loader's tests.

Run from the repository root:

    /usr/bin/python3 tests/data/gen_broken.py

Each file is a small valid model (three convs and a residual add) with
exactly one defect, so the loader must report that defect and not another.
broken/manifest.txt has one line per file:

    <filename> TAB <substring the error message must contain> TAB <description>

Before writing, every file is run through the reference validator of
gen_fixtures.py (same checks, same order as the C loader: container, then
metadata, then graph, then tensors against the graph) and must fail there
with its substring; the unbroken base model must pass. Output is
deterministic.
"""

import json
import os
import struct
import sys

import numpy as np

sys.dont_write_bytecode = True      # importing gen_fixtures must not litter tests/data
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_fixtures as gf          # noqa: E402

OUTDIR = os.path.join(HERE, "broken")


def base_graph():
    return gf.graph("denoise", "luma", [
        gf.conv("c1", "input", 2, act="relu"),
        gf.conv("c2", "c1", 8, act="relu"),
        gf.conv("c3", "c2", 1),
        gf.node("y", "add", ["c3", "input"]),
    ], "y")


RNG = np.random.RandomState(20240601)
# Weights are drawn once per (name, shape) so variants share the base's bytes.
_WEIGHTS = {}


def arr(name, shape):
    key = (name, tuple(shape))
    if key not in _WEIGHTS:
        _WEIGHTS[key] = RNG.uniform(-0.5, 0.5, shape)
    return _WEIGHTS[key].copy()


def tensors_for(g, dtype="F32", override=None):
    """The tensors graph g needs, sorted by name; override maps a name to an
    array (or None to drop it)."""
    order, shapes = gf.validate_graph(g)
    want = gf.expected_tensors(order, shapes)
    override = override or {}
    out = []
    for name in sorted(set(want) | set(override)):
        a = override.get(name, arr(name, want.get(name, [0])))
        if a is not None:
            out.append(gf.np_tensor(name, a, dtype))
    return out


def meta_for(g, **extra):
    m = {"ae.format": "1", "ae.graph": json.dumps(g)}
    m.update(extra)
    return m


def model(g, tensors=None):
    if tensors is None:
        tensors = tensors_for(g)
    return gf.st_encode(tensors, meta_for(g))


def layout(tensors, metadata):
    """Header dict (metadata first, contiguous offsets) and data, for cases
    that then edit offsets by hand."""
    header = {"__metadata__": metadata}
    off = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    return header, b"".join(t[3] for t in tensors)


def pack(header, data):
    return gf.st_pack(gf.st_header_json(header), data)


def with_graph(edit):
    """A copy of the base graph after edit(graph, nodes_by_name)."""
    g = base_graph()
    edit(g, {n["name"]: n for n in g["nodes"]})
    return g


def cases():
    g0 = base_graph()
    t0 = tensors_for(g0)
    m0 = meta_for(g0)
    valid = gf.st_encode(t0, m0)
    header_len = struct.unpack("<Q", valid[:8])[0]
    data_len = len(valid) - 8 - header_len
    C = []

    def add(fname, substr, desc, blob):
        C.append((fname + ".safetensors", substr, desc, blob))

    # -- container -------------------------------------------------------
    add("empty", "too short", "empty file (0 bytes)", b"")
    add("too_short", "too short", "5 bytes, less than the 8-byte length prefix",
        valid[:5])
    add("header_length_past_eof", "header length",
        "header length one byte past the end of the file",
        struct.pack("<Q", len(valid) - 8 + 1) + valid[8:])
    add("header_length_huge", "header length", "header length 2^63",
        struct.pack("<Q", 1 << 63) + valid[8:])
    add("header_not_json", "JSON", "header is not JSON",
        gf.st_pack(b'{"__metadata__": {"ae.format": "1", ', b""))
    add("header_array", "JSON", "header JSON is an array, not an object",
        gf.st_pack(b"[1, 2, 3]", b""))

    h, d = layout(t0, m0)
    h["c1.weight"]["dtype"] = "I32"         # same element size: only the dtype is wrong
    add("dtype_i32", "dtype", "c1.weight has dtype I32", pack(h, d))

    t = [x if x[0] != "c1.weight" else
         (x[0], "F64", x[2], np.frombuffer(x[3], "<f4").astype("<f8").tobytes())
         for x in t0]
    add("dtype_f64", "dtype", "c1.weight has dtype F64 (sizes consistent)",
        gf.st_encode(t, m0))

    # Last tensor moved 4 bytes back onto its neighbour, data 4 bytes
    # shorter: sizes right, no gap, only the overlap is wrong.
    h, d = layout(t0, m0)
    last = list(h)[-1]
    b, e = h[last]["data_offsets"]
    h[last]["data_offsets"] = [b - 4, e - 4]
    add("overlap", "overlap", "last tensor's data_offsets overlap the previous tensor by 4 bytes",
        pack(h, d[:-4]))

    h, d = layout(t0, m0)
    b, e = h[last]["data_offsets"]
    h[last]["data_offsets"] = [b + (1 << 40), e + (1 << 40)]
    add("offsets_past_end", "out of range",
        "last tensor's data_offsets 2^40 bytes past the data section "
        "(a range error, reported before coverage)", pack(h, d))

    h, d = layout(t0, m0)
    b, e = h["c1.bias"]["data_offsets"]
    h["c1.bias"]["data_offsets"] = [e, b]
    add("offsets_end_before_begin", "out of range",
        "c1.bias data_offsets [end, begin] (end < begin)", pack(h, d))

    add("data_not_covered_tail", "not covered",
        "16 bytes after the last tensor belong to no tensor",
        gf.st_pack(gf.st_header_json(layout(t0, m0)[0]), layout(t0, m0)[1] + bytes(16)))

    h, d = layout(t0, m0)
    names = list(h)[1:]
    cut = h[names[1]]["data_offsets"][0]
    for n in names[1:]:
        h[n]["data_offsets"] = [o + 8 for o in h[n]["data_offsets"]]
    add("data_not_covered_gap", "not covered",
        "an 8-byte gap between the first and second tensors", pack(h, d[:cut] + bytes(8) + d[cut:]))

    # c1.bias (F32 [2]) spans 12 bytes; later tensors move up so that
    # coverage stays exact.
    h, d = layout(t0, m0)
    b, e = h["c1.bias"]["data_offsets"]
    after = False
    for n in names:
        if after:
            h[n]["data_offsets"] = [o + 4 for o in h[n]["data_offsets"]]
        if n == "c1.bias":
            h[n]["data_offsets"] = [b, e + 4]
            after = True
    add("size_mismatch", "size",
        "c1.bias is F32 [2] (8 bytes) but its data_offsets span 12", pack(h, d[:e] + bytes(4) + d[e:]))

    add("truncated", "out of range", "file cut in the middle of the tensor data",
        valid[:8 + header_len + data_len // 2])

    # -- metadata --------------------------------------------------------
    add("no_metadata", "ae.graph", "no __metadata__ at all", gf.st_encode(t0, None))
    add("no_graph_key", "ae.graph", "__metadata__ without ae.graph",
        gf.st_encode(t0, {"ae.format": "1"}))
    h, d = layout(t0, m0)
    h["__metadata__"] = {"ae.format": "1", "ae.graph": g0}
    add("graph_not_string", "ae.graph",
        "ae.graph is a JSON object instead of a string (metadata values are strings)",
        pack(h, d))
    add("format_2", "ae.format", 'ae.format is "2"',
        gf.st_encode(t0, {"ae.format": "2", "ae.graph": json.dumps(g0)}))
    add("graph_not_json", "JSON", "ae.graph string is cut short, not valid JSON",
        gf.st_encode(t0, {"ae.format": "1", "ae.graph": json.dumps(g0)[:-9]}))

    # -- graph -----------------------------------------------------------
    def graph_case(fname, substr, desc, edit, tensors=None):
        g = with_graph(edit)
        add(fname, substr, desc, gf.st_encode(t0 if tensors is None else tensors, meta_for(g)))

    def set_field(node, key, value):
        def edit(g, n):
            n[node][key] = value
        return edit

    graph_case("empty_nodes", "no nodes", "nodes is an empty list (no tensors)",
               lambda g, n: g.update(nodes=[]), tensors=[])
    graph_case("unknown_op", "unknown op", 'node y has op "conv3d"',
               set_field("y", "op", "conv3d"))
    graph_case("unknown_input", "unknown input", 'node y reads "inptu"',
               set_field("y", "inputs", ["c3", "inptu"]))
    graph_case("output_unknown", "output", 'output is "z", which names no node',
               lambda g, n: g.update(output="z"))
    graph_case("output_absent", "output", "the graph has no output field",
               lambda g, n: g.pop("output"))
    graph_case("duplicate_name", "duplicate", "two nodes named y",
               lambda g, n: g["nodes"].append(gf.node("y", "add", ["c3", "input"])))
    graph_case("bad_node_name", "name", 'a node named "y out" (space not allowed)',
               lambda g, n: (n["y"].update(name="y out"), g.update(output="y out")))

    def edit_cycle(g, n):
        # m = c1 + r, c2 reads m, r reads c2: m -> c2 -> r -> m, channels consistent
        g["nodes"].insert(1, gf.node("m", "add", ["c1", "r"]))
        g["nodes"].append(gf.conv("r", "c2", 2))
        n["c2"]["inputs"] = ["m"]
    g = with_graph(edit_cycle)
    rt = [gf.np_tensor("r.weight", arr("r.weight", [2, 8, 3, 3])),
          gf.np_tensor("r.bias", arr("r.bias", [2]))]
    add("cycle", "cycle", "cycle m -> c2 -> r -> m (shapes otherwise consistent)",
        gf.st_encode(sorted(t0 + rt), meta_for(g)))

    def edit_self_loop(g, n):
        g["nodes"].insert(1, gf.node("m", "add", ["c1", "m"]))
        n["c2"]["inputs"] = ["m"]
    graph_case("self_loop", "cycle", "node m = add(c1, m) reads itself", edit_self_loop)

    g = with_graph(lambda g, n: n["c3"].update(out=4))
    add("channel_add", "channel", "y adds c3 (4 channels) and input (1 channel)",
        model(g, tensors_for(g0, override={"c3.weight": arr("c3.weight", [4, 8, 3, 3]),
                                           "c3.bias": arr("c3.bias", [4])})))

    def edit_out2(g, n):
        n["c3"]["out"] = 2
        g["nodes"].pop()
        g["output"] = "c3"
    g = with_graph(edit_out2)
    add("output_channels", "channel", "luma model whose output has 2 channels",
        model(g, tensors_for(g0, override={"c3.weight": arr("c3.weight", [2, 8, 3, 3]),
                                           "c3.bias": arr("c3.bias", [2])})))

    g = with_graph(lambda g, n: g["nodes"].append(gf.conv("dead", "c1", 4)))
    add("unused_node", "unused", "node dead reads c1 but leads nowhere (its tensors present)",
        model(g, tensors_for(g0, override={"dead.weight": arr("dead.weight", [4, 2, 3, 3]),
                                           "dead.bias": arr("dead.bias", [4])})))

    graph_case("out_huge", "out of range", "c2 has out 100000",
               set_field("c2", "out", 100000))
    graph_case("kernel_0", "out of range", "c2 has kernel 0", set_field("c2", "kernel", 0))
    graph_case("kernel_99", "out of range", "c2 has kernel 99", set_field("c2", "kernel", 99))
    graph_case("stride_0", "out of range", "c2 has stride 0", set_field("c2", "stride", 0))

    def edit_convt(g, n):
        n["c3"].update(op="conv_transpose2d", padding=1, output_padding=1)
    g = with_graph(lambda g, n: n["c3"].update(op="conv_transpose2d", padding=1))
    tt = tensors_for(g)     # valid transposed-conv tensors ([in, out, k, k])
    graph_case("output_padding_ge_stride", "out of range",
               "conv_transpose2d c3 with stride 1 and output_padding 1", edit_convt, tt)

    graph_case("task_bogus", "task", 'task is "bogus"', lambda g, n: g.update(task="bogus"))
    graph_case("color_cmyk", "color", 'color is "cmyk"', lambda g, n: g.update(color="cmyk"))
    graph_case("superres_same_size", "scale",
               "task superres with scale 2, but the network keeps the size",
               lambda g, n: g.update(task="superres", scale=2))
    graph_case("denoise_scale2", "scale", "task denoise with scale 2 (must be 1)",
               lambda g, n: g.update(scale=2))

    # -- tensors against the graph ---------------------------------------
    add("missing_tensor", "missing tensor", "c2.weight is absent",
        model(g0, [x for x in t0 if x[0] != "c2.weight"]))
    add("unexpected_tensor", "unexpected tensor", "extra tensor c4.weight the graph does not use",
        model(g0, tensors_for(g0, override={"c4.weight": arr("c4.weight", [1, 1, 3, 3])})))
    g = with_graph(set_field("c2", "bias", False))
    add("bias_false_with_bias", "unexpected tensor", "c2 has bias false but c2.bias is present",
        model(g, t0))
    add("wrong_weight_shape", "expects weight", "c2.weight is [8,4,3,3], the graph needs [8,2,3,3]",
        model(g0, tensors_for(g0, override={"c2.weight": arr("c2.weight", [8, 4, 3, 3])})))
    add("wrong_bias_shape", "expects", "c2.bias is [4], the graph needs [8]",
        model(g0, tensors_for(g0, override={"c2.bias": arr("c2.bias", [4])})))

    w = arr("c2.weight", [8, 2, 3, 3])
    w[3, 1, 2, 0] = np.nan
    add("nan_weight", "not finite", "one NaN in c2.weight",
        model(g0, tensors_for(g0, override={"c2.weight": w})))
    b = arr("c1.bias", [2])
    b[1] = np.inf
    add("inf_bias", "not finite", "+Inf in c1.bias",
        model(g0, tensors_for(g0, override={"c1.bias": b})))
    w = arr("c3.weight", [1, 8, 3, 3])
    w[0, 5, 1, 1] = -np.inf
    add("f16_inf_weight", "not finite", "F16 model with -Inf in c3.weight",
        gf.st_encode(tensors_for(g0, "F16", override={"c3.weight": w}), m0))
    return valid, C


def main():
    valid, C = cases()
    gf.validate(valid)                              # the base itself must load
    gf.validate(gf.st_encode(tensors_for(base_graph(), "F16"), meta_for(base_graph())))
    names = [c[0] for c in C]
    assert len(names) == len(set(names))
    bad = []
    for fname, substr, desc, blob in C:
        try:
            gf.validate(blob)
            bad.append("%s: loads without error" % fname)
        except gf.ModelError as e:
            if substr not in str(e):
                bad.append("%s: %r lacks %r" % (fname, str(e), substr))
    if bad:
        sys.exit("reference validator disagrees:\n  " + "\n  ".join(bad))
    os.makedirs(OUTDIR, exist_ok=True)
    for f in os.listdir(OUTDIR):                    # drop files of renamed cases
        if f.endswith(".safetensors") and f not in names:
            os.unlink(os.path.join(OUTDIR, f))
    for fname, substr, desc, blob in C:
        with open(os.path.join(OUTDIR, fname), "wb") as fp:
            fp.write(blob)
    with open(os.path.join(OUTDIR, "manifest.txt"), "w") as fp:
        for fname, substr, desc, blob in C:
            assert "\t" not in desc and "\n" not in desc
            fp.write("%s\t%s\t%s\n" % (fname, substr, desc))
    print("%d broken files in %s" % (len(C), os.path.relpath(OUTDIR)))


if __name__ == "__main__":
    main()
