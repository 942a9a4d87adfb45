#!/usr/bin/env python3
"""Drives the Python `nir` package (1.0.x) for slayer-nir's interop test
(nir/tests/python.rs).

    nir_roundtrip.py write DIR   write DIR/<case>.nir with nir.write (seeded random
                                 arrays, every node type) and DIR/<case>.json, the
                                 dump of nir.read of that file; print the case names
    nir_roundtrip.py dump FILE   print the dump of nir.read(FILE, type_check=False)
    nir_roundtrip.py check FILE  nir.read(FILE) with nir's type check, print "ok"

The dump is a JSON tree: a graph is {"type": "NIRGraph", "nodes": {...},
"edges": [[src, dst], ...], "metadata": {...}}, any other node {"type": T,
"fields": {...}, "metadata": {...}}. A value is {"str": s}, {"group": {...}}
(nested metadata), or an array {"dtype", "shape", and "bits" (IEEE bit
patterns of float32/float64 values, so the comparison is exact) or "data"
(integers)}. Python bools are dumped as int64, as slayer-nir reads them.
Needs numpy, h5py and nir only.
"""
import json
import sys

import numpy as np

import nir


def value(v):
    if isinstance(v, dict):
        return {"group": {k: value(x) for k, x in v.items() if x is not None}}
    if isinstance(v, bytes):
        v = v.decode("utf8")
    if isinstance(v, str):
        return {"str": v}
    a = np.asarray(v)
    if a.dtype.kind in "SUO":
        return {"str": a.item().decode("utf8") if a.dtype.kind != "U" else str(a.item())}
    if a.dtype == np.bool_:
        a = a.astype(np.int64)
    out = {"dtype": str(a.dtype), "shape": list(a.shape)}
    if a.dtype == np.float32:
        out["bits"] = a.ravel().view(np.uint32).tolist()
    elif a.dtype == np.float64:
        out["bits"] = a.ravel().view(np.uint64).tolist()
    else:
        out["data"] = a.astype(np.int64).ravel().tolist()
    return out


def dump(node):
    meta = {k: value(v) for k, v in (node.metadata or {}).items()}
    if isinstance(node, nir.NIRGraph):
        return {
            "type": "NIRGraph",
            "nodes": {k: dump(n) for k, n in node.nodes.items()},
            "edges": [[str(a), str(b)] for a, b in node.edges],
            "metadata": meta,
        }
    d = node.to_dict()
    ty = d.pop("type")
    d.pop("metadata", None)
    return {
        "type": ty,
        "fields": {k: value(v) for k, v in d.items() if v is not None},
        "metadata": meta,
    }


def cases():
    """name -> NIRGraph; every node type nir 1.0 serialises, float32 and float64."""
    rng = np.random.default_rng(14)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def f64(*shape):
        return rng.standard_normal(shape)

    def pos(*shape):
        return rng.uniform(1e-3, 2e-2, shape).astype(np.float32)

    out = {}
    # A type-consistent feed-forward network (nir.read type-checks it).
    out["network"] = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([3])),
            "affine": nir.Affine(weight=f32(5, 3), bias=f32(5)),
            "lif": nir.LIF(tau=pos(5), r=f32(5), v_leak=f32(5), v_threshold=f32(5)),
            "linear": nir.Linear(weight=f32(4, 5)),
            "cubalif": nir.CubaLIF(
                tau_mem=pos(4), tau_syn=pos(4), r=f32(4), v_leak=f32(4),
                v_threshold=f32(4), v_reset=f32(4), w_in=f32(4),
            ),
            "output": nir.Output(output_type=np.array([4])),
        },
        edges=[("input", "affine"), ("affine", "lif"), ("lif", "linear"),
               ("linear", "cubalif"), ("cubalif", "output")],
        metadata={"source": "slayer-rs nir_roundtrip.py", "dt": 1e-3},
    )
    # A convolutional network, type-consistent as well.
    out["conv"] = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2, 8, 8])),
            "conv": nir.Conv2d(input_shape=(8, 8), weight=f32(4, 2, 3, 3), stride=1,
                               padding=1, dilation=1, groups=1, bias=f32(4)),
            "if": nir.IF(r=f32(4, 8, 8), v_threshold=f32(4, 8, 8)),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                  padding=np.array([0, 0])),
            "flat": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0,
                                end_dim=-1),
            "affine": nir.Affine(weight=f32(3, 64), bias=f32(3)),
            "li": nir.LI(tau=pos(3), r=f32(3), v_leak=f32(3)),
            "output": nir.Output(output_type=np.array([3])),
        },
        edges=[("input", "conv"), ("conv", "if"), ("if", "pool"), ("pool", "flat"),
               ("flat", "affine"), ("affine", "li"), ("li", "output")],
    )
    # Every other node type and field form, float64, not wired (empty edges).
    out["all_nodes"] = nir.NIRGraph(
        nodes={
            "scale": nir.Scale(scale=f64(6)),
            "threshold": nir.Threshold(threshold=f64(2, 3)),
            "delay": nir.Delay(delay=np.abs(f64(4))),
            "i": nir.I(r=f64(3)),
            "if": nir.IF(r=f64(3), v_threshold=f64(3), v_reset=f64(3)),
            "li": nir.LI(tau=np.abs(f64(3)), r=f64(3), v_leak=f64(3)),
            "lif": nir.LIF(tau=np.abs(f64(2)), r=f64(2), v_leak=f64(2),
                           v_threshold=f64(2), v_reset=f64(2)),
            "cubali": nir.CubaLI(tau_mem=np.abs(f64(3)), tau_syn=np.abs(f64(3)), r=f64(3),
                                 v_leak=f64(3), w_in=f64(3)),
            "cubalif": nir.CubaLIF(tau_mem=np.abs(f64(2)), tau_syn=np.abs(f64(2)), r=f64(2),
                                   v_leak=f64(2), v_threshold=f64(2)),
            "conv1d": nir.Conv1d(input_shape=16, weight=f64(3, 2, 5), stride=2, padding=1,
                                 dilation=1, groups=1, bias=f64(3)),
            "conv_same": nir.Conv2d(input_shape=(6, 5), weight=f32(2, 1, 3, 3), stride=1,
                                    padding="same", dilation=1, groups=2, bias=f32(2)),
            "conv_valid": nir.Conv2d(input_shape=(6, 5), weight=f32(2, 2, 3, 1),
                                     stride=(2, 1), padding="valid", dilation=(1, 2),
                                     groups=1, bias=f32(2)),
            "avgpool": nir.AvgPool2d(kernel_size=np.array([3, 2]), stride=np.array([1, 2]),
                                     padding=np.array([1, 0])),
            "flatten": nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1,
                                   end_dim=2),
            "int_weights": nir.Linear(weight=rng.integers(-128, 128, (3, 4))),
            "input": nir.Input(input_type=np.array([1, 2, 3]),
                               metadata={"text": "hé", "int": 3, "float": 1.5,
                                         "array": np.arange(4), "flag": True,
                                         "nested": {"a": 1, "b": "two"}}),
            "output": nir.Output(output_type=np.array([7])),
        },
        edges=[],
        type_check=False,
    )
    # A subgraph as a node, wired from the outside.
    sub = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([2])),
            "lif": nir.LIF(tau=pos(2), r=f32(2), v_leak=f32(2), v_threshold=f32(2)),
            "out": nir.Output(output_type=np.array([2])),
        },
        edges=[("in", "lif"), ("lif", "out")],
        metadata={"name": "inner"},
    )
    out["nested"] = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "sub": sub,
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "sub"), ("sub", "output")],
        type_check=False,
    )
    return out


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "write":
        for name, graph in cases().items():
            nir.write(f"{path}/{name}.nir", graph)
            back = nir.read(f"{path}/{name}.nir", type_check=False)
            with open(f"{path}/{name}.json", "w") as f:
                json.dump(dump(back), f, indent=1, sort_keys=True)
            print(name)
    elif cmd == "dump":
        json.dump(dump(nir.read(path, type_check=False)), sys.stdout, indent=1, sort_keys=True)
    elif cmd == "check":
        nir.read(path)
        print("ok")
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
