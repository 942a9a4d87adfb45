#!/usr/bin/env python3
"""Simulate a NIR graph read by the `nir` package, in numpy, from NIR's own
equations; the reference client of trainer/tests/nir.rs.

    nir_sim.py GRAPH.nir RASTERS S BINS N DT_S > counts.json

RASTERS holds S spike rasters of BINS x N uint8 (sample-major, then bin, then
input). Every input spike is a unit-area Dirac impulse at the start of its
bin; DT_S is the bin width in seconds. Prints JSON: {"counts": [[...], ...]}
(the output spikes of each sample, per output element) and "nodes" (name ->
NIR type, as nir.read returned them).

The node types a SLAYER network exports to are simulated exactly (the linear
neuron dynamics are integrated in closed form between bins, so nothing
depends on a solver step):

* Input, Output, Flatten: pass-through (reshaped).
* Linear (W x), Affine (W x + b), Scale (s * x), Conv2d (PyTorch's
  cross-correlation, zero padding), SumPool2d (window sums): on the values of
  the same bin.
* CubaLI: tau_syn dI/dt = -I + w_in S, tau_mem dv/dt = (v_leak - v) + r I;
  its output at bin k is v at t = k*dt, before the impulses of bin k arrive
  (they raise I by w_in*x/tau_syn at t = k*dt and reach v afterwards).
* Threshold: H(x - theta), with H(0) = 1 (a neuron at its threshold fires).
* Delay: the input of bin k leaves at bin k + floor(delay/dt).

A node's inputs are summed (several edges into one node). Cycles are allowed
when they pass through a CubaLI (its output depends only on earlier bins).
"""

import json
import sys

import numpy as np


def main():
    import nir

    path, rasters, s, bins, n, dt = sys.argv[1:7]
    s, bins, n, dt = int(s), int(bins), int(n), float(dt)
    g = nir.read(path)
    x = np.fromfile(rasters, dtype=np.uint8).reshape(s, bins, n).astype(np.float64)
    sim = Sim(g, dt)
    counts = [sim.run(x[i]).tolist() for i in range(s)]
    nodes = {name: type(node).__name__ for name, node in g.nodes.items()}
    json.dump({"counts": counts, "nodes": nodes}, sys.stdout)


class Sim:
    def __init__(self, g, dt):
        self.g = g
        self.dt = dt
        self.inputs = {name: [] for name in g.nodes}
        for src, dst in g.edges:
            self.inputs[dst].append(src)
        (self.input,) = [k for k, v in g.nodes.items() if type(v).__name__ == "Input"]
        (self.output,) = [k for k, v in g.nodes.items() if type(v).__name__ == "Output"]
        self.stateful = {k for k, v in g.nodes.items() if type(v).__name__ == "CubaLI"}
        self.order = self.topological()

    def topological(self):
        """Nodes other than CubaLIs in an order where each follows its inputs
        (a CubaLI's output at a bin is known before the bin starts)."""
        order, done = [], set(self.stateful)
        pending = [k for k in self.g.nodes if k not in self.stateful]
        while pending:
            ready = [k for k in pending if all(i in done for i in self.inputs[k])]
            if not ready:
                raise SystemExit(f"a cycle without a CubaLI through {pending}")
            for k in ready:
                order.append(k)
                done.add(k)
            pending = [k for k in pending if k not in done]
        return order

    def run(self, x):
        g, dt = self.g, self.dt
        state = {}
        for k in self.stateful:
            node = g.nodes[k]
            shape = np.shape(node.tau_mem)
            state[k] = [np.zeros(shape), np.zeros(shape)]  # I, v
        delays = {}
        counts = None
        for step in range(x.shape[0]):
            val = {k: state[k][1] + 0.0 for k in self.stateful}
            for k in self.order:
                node = g.nodes[k]
                kind = type(node).__name__
                if kind == "Input":
                    shape = np.asarray(node.input_type["input"]).reshape(-1)
                    val[k] = x[step].reshape(tuple(int(d) for d in shape))
                    continue
                inp = sum(val[i] for i in self.inputs[k])
                val[k] = self.apply(k, node, kind, inp, step, delays)
            out = np.asarray(val[self.output]).reshape(-1)
            counts = out.copy() if counts is None else counts + out
            # The impulses of this bin, then the decay to the next bin.
            for k in self.stateful:
                node = g.nodes[k]
                s = sum(val[i] for i in self.inputs[k])
                i_syn, v = state[k]
                tau_s = np.asarray(node.tau_syn, dtype=np.float64)
                tau_m = np.asarray(node.tau_mem, dtype=np.float64)
                r = np.asarray(node.r, dtype=np.float64)
                v_leak = np.asarray(node.v_leak, dtype=np.float64)
                w_in = np.asarray(node.w_in, dtype=np.float64)
                i0 = i_syn + w_in * np.reshape(s, np.shape(i_syn)) / tau_s
                a_s, a_m = np.exp(-dt / tau_s), np.exp(-dt / tau_m)
                with np.errstate(divide="ignore", invalid="ignore"):
                    coupled = np.where(
                        tau_s == tau_m,
                        r * i0 * dt / tau_m * a_m,
                        r * i0 * tau_s / (tau_s - tau_m) * (a_s - a_m),
                    )
                state[k] = [i0 * a_s, v_leak + (v - v_leak) * a_m + coupled]
        return np.rint(counts).astype(np.int64)

    def apply(self, name, node, kind, x, step, delays):
        if kind in ("Output",):
            return x
        if kind == "Flatten":
            return np.reshape(x, -1)
        if kind == "Linear":
            return np.asarray(node.weight, dtype=np.float64) @ np.reshape(x, -1)
        if kind == "Affine":
            w = np.asarray(node.weight, dtype=np.float64)
            return w @ np.reshape(x, -1) + np.asarray(node.bias, dtype=np.float64)
        if kind == "Scale":
            return np.asarray(node.scale, dtype=np.float64) * x
        if kind == "Threshold":
            return (x >= np.asarray(node.threshold, dtype=np.float64)).astype(np.float64)
        if kind == "Conv2d":
            return conv2d(node, x)
        if kind == "SumPool2d":
            return sum_pool(node, x)
        if kind == "Delay":
            shift = np.floor(np.asarray(node.delay, dtype=np.float64) / self.dt + 1e-6).astype(int)
            hist = delays.setdefault(name, {})
            hist[step] = np.asarray(x, dtype=np.float64)
            out = np.zeros(np.shape(shift))
            flat_out, flat_shift = out.reshape(-1), shift.reshape(-1)
            for j, d in enumerate(flat_shift):
                past = hist.get(step - d)
                if past is not None:
                    flat_out[j] = np.reshape(past, -1)[j]
            return out
        raise SystemExit(f"node {name}: type {kind} is not simulated here")


def conv2d(node, x):
    w = np.asarray(node.weight, dtype=np.float64)
    c_out, c_in, kh, kw = w.shape
    x = np.reshape(x, (c_in,) + tuple(np.asarray(node.input_shape).tolist()))
    sh, sw = (int(v) for v in np.broadcast_to(node.stride, 2))
    ph, pw = (int(v) for v in np.broadcast_to(node.padding, 2))
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    oh = (xp.shape[1] - kh) // sh + 1
    ow = (xp.shape[2] - kw) // sw + 1
    out = np.zeros((c_out, oh, ow))
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, dy : dy + sh * oh : sh, dx : dx + sw * ow : sw]
            out += np.einsum("oc,chw->ohw", w[:, :, dy, dx], patch)
    return out + np.asarray(node.bias, dtype=np.float64)[:, None, None]


def sum_pool(node, x):
    k = int(np.asarray(node.kernel_size).reshape(-1)[0])
    c, h, w = np.shape(x)
    return np.reshape(x, (c, h // k, k, w // k, k)).sum(axis=(2, 4))


if __name__ == "__main__":
    main()
