#!/usr/bin/env python3
"""Training-step timings of the Python SNN frameworks on the shapes of
`slayer bench`, for scripts/gpu-check.sh (issue 12).

One framework per process, so that a framework that fails to import, compile
or run is reported with its error and the others go on:

    python3 scripts/peer_bench.py --framework snntorch --case nmnist-mlp-32 dvs-cnn-16

prints one JSON line per case as it finishes: {"peer", "case", "shape", "batch", "bins",
"seconds_per_step", "samples_per_s", "steps", "device", "version"} or
{"peer", "case", "error"}.

The shapes (time-major, spikes as 0/1 floats, Poisson density as ours):

* nmnist-mlp-32: 2312 -> 512 -> 10, 300 bins, batch 32, 0.6 % input density.
* dvs-cnn-16:    128x128x2 -> pool 4 -> conv 16c5 -> pool 2 -> conv 32c3 ->
                 pool 2 -> dense 512 -> dense 11, 300 bins, batch 16
                 (our DVS Gesture network without its axonal delays, which
                 the peers do not have), 1 % input density.
* snn-4096 / snn-16384: one dense n -> n layer with spiking neurons, batch 16,
                 500 bins, 5 % input density: forward + backward only (the
                 public SNN-library benchmark).

A training step is forward over all bins, a spike-count MSE loss (our
NumSpikes), backward and an Adam step. Each framework runs layer by layer: the
synaptic op of a layer over all T*B rows at once, then its neuron over time
(the fastest way to run a feed-forward network in snnTorch and Norse; lava-dl
does this itself).
"""

import argparse
import json
import statistics
import sys
import time
import traceback

CASES = {
    "nmnist-mlp-32": dict(kind="mlp", widths=[2312, 512, 10], bins=300, batch=32, density=0.006),
    "dvs-cnn-16": dict(kind="cnn", bins=300, batch=16, density=0.01),
    "snn-4096": dict(kind="fwdbwd", n=4096, bins=500, batch=16, density=0.05),
    "snn-16384": dict(kind="fwdbwd", n=16384, bins=500, batch=16, density=0.05),
}


def layer_specs(case):
    """The network as a list of ('dense', in, out) / ('conv', cin, cout, k, pad) /
    ('pool', size) / ('flatten',) layers, every one but flatten followed by
    spiking neurons."""
    if case["kind"] == "mlp":
        w = case["widths"]
        return [("dense", a, b) for a, b in zip(w, w[1:])], (w[0],)
    if case["kind"] == "fwdbwd":
        return [("dense", case["n"], case["n"])], (case["n"],)
    return [
        ("pool", 4),
        ("conv", 2, 16, 5, 2),
        ("pool", 2),
        ("conv", 16, 32, 3, 1),
        ("pool", 2),
        ("flatten",),
        ("dense", 32 * 8 * 8, 512),
        ("dense", 512, 11),
    ], (2, 128, 128)


def torch_layers(torch, specs):
    """The synaptic ops as torch modules (pooling as a fixed-weight sum pool)."""
    nn = torch.nn
    mods = []
    for s in specs:
        if s[0] == "dense":
            mods.append(nn.Linear(s[1], s[2], bias=False))
        elif s[0] == "conv":
            mods.append(nn.Conv2d(s[1], s[2], s[3], padding=s[4], bias=False))
        elif s[0] == "pool":
            size = s[1]
            mods.append(SumPool(torch, size))
        else:
            mods.append(nn.Flatten())
    return mods


class SumPool:
    def __init__(self, torch, size):
        self.torch, self.size = torch, size

    def __call__(self, x):
        f = self.torch.nn.functional
        return f.avg_pool2d(x, self.size) * (self.size * self.size * 1.1)

    def to(self, _dev):
        return self

    def parameters(self):
        return []


def run_layerwise(torch, mods, neuron_seq, x, spiking):
    """x: [T, B, ...]. Applies each synaptic op to all T*B rows, then the
    neuron (a function of a [T, B, ...] current) unless it is a flatten."""
    t, b = x.shape[0], x.shape[1]
    h = x
    for m, spk in zip(mods, spiking):
        flat = h.reshape(t * b, *h.shape[2:])
        cur = m(flat)
        cur = cur.reshape(t, b, *cur.shape[1:])
        h = neuron_seq(cur) if spk else cur
    return h


def make_snntorch(torch, specs, dev):
    import snntorch as snn
    from snntorch import surrogate

    mods = [m.to(dev) for m in torch_layers(torch, specs)]
    spiking = [s[0] != "flatten" for s in specs]
    grad = surrogate.fast_sigmoid()

    lifs = {}

    def neuron_seq(cur):
        # One neuron module per layer shape, on the device (its beta is a tensor).
        key = tuple(cur.shape[1:])
        if key not in lifs:
            lifs[key] = snn.Leaky(beta=0.9, spike_grad=grad).to(dev)
        lif = lifs[key]
        mem = lif.init_leaky()
        out = []
        for k in range(cur.shape[0]):
            spk, mem = lif(cur[k], mem)
            out.append(spk)
        return torch.stack(out)

    def forward(x):
        return run_layerwise(torch, mods, neuron_seq, x, spiking)

    return forward, [p for m in mods for p in m.parameters()], snn.__version__


def make_norse(torch, specs, dev):
    import norse
    import norse.torch as nt

    mods = [m.to(dev) for m in torch_layers(torch, specs)]
    spiking = [s[0] != "flatten" for s in specs]
    lif = nt.LIF().to(dev)  # loops over the leading time dimension itself

    def neuron_seq(cur):
        z, _ = lif(cur)
        return z

    def forward(x):
        return run_layerwise(torch, mods, neuron_seq, x, spiking)

    version = getattr(norse, "__version__", "1.1.0")
    return forward, [p for m in mods for p in m.parameters()], version


def make_lava(torch, specs, dev):
    import lava.lib.dl.slayer as slayer
    from lava.lib.dl.slayer import jitconfig

    # lava-dl compiles its CUDA neuron kernels on first use for the
    # architectures in jitconfig.TORCH_CUDA_ARCH_LIST, which it sets to 8.0
    # on every GPU of compute capability 8 or more: sm_80 code that a Hopper
    # GPU cannot run ("no kernel image is available"). Ask for this GPU's.
    if dev.type == "cuda":
        major, minor = torch.cuda.get_device_capability(dev)
        jitconfig.TORCH_CUDA_ARCH_LIST = f"{major}.{minor}"

    params = {
        "threshold": 1.25,
        "current_decay": 0.25,
        "voltage_decay": 0.03,
        "tau_grad": 0.03,
        "scale_grad": 3,
        "requires_grad": False,
    }
    blocks = []
    for s in specs:
        if s[0] == "dense":
            blocks.append(slayer.block.cuba.Dense(params, s[1], s[2]))
        elif s[0] == "conv":
            blocks.append(slayer.block.cuba.Conv(params, s[1], s[2], s[3], padding=s[4]))
        elif s[0] == "pool":
            blocks.append(slayer.block.cuba.Pool(params, s[1]))
        else:
            blocks.append(slayer.block.cuba.Flatten())
    net = torch.nn.Sequential(*blocks).to(dev)

    def forward(x):
        # lava-dl's layout is [B, ..., T].
        y = net(x.movedim(0, -1).contiguous())
        return y.movedim(-1, 0)

    return forward, list(net.parameters()), "0.6.0"


def compile_lava():
    """Builds lava-dl's CUDA neuron extension for this GPU (cached in
    $TORCH_EXTENSIONS_DIR), without running anything on the GPU."""
    import torch
    from lava.lib.dl.slayer import jitconfig
    from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator

    major, minor = torch.cuda.get_device_capability(0)
    jitconfig.TORCH_CUDA_ARCH_LIST = f"{major}.{minor}"
    t0 = time.perf_counter()
    leaky_integrator.Accelerated.leaky_integrator
    print(f"lava-dl extension compiled in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


FRAMEWORKS = {"snntorch": make_snntorch, "norse": make_norse, "lava-dl": make_lava}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--framework", choices=sorted(FRAMEWORKS), required=True)
    ap.add_argument("--case", choices=sorted(CASES), nargs="+", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--compile-only",
        action="store_true",
        help="lava-dl: only JIT-compile its CUDA extension (the GPU check starts this early)",
    )
    a = ap.parse_args()
    if a.compile_only:
        return compile_lava()
    failed = 0
    for case in a.case:
        failed += run(a, case)
    return 1 if failed else 0


def run(a, case_name):
    """Times one case; prints its JSON line; returns 1 on failure."""
    out = {"peer": a.framework, "case": case_name}
    try:
        import torch

        torch.cuda.empty_cache() if torch.cuda.is_available() else None
        case = CASES[case_name]
        dev = torch.device(a.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        torch.manual_seed(0)
        specs, in_shape = layer_specs(case)
        forward, params, version = FRAMEWORKS[a.framework](torch, specs, dev)
        t, b = case["bins"], case["batch"]
        x = (torch.rand(t, b, *in_shape, device=dev) < case["density"]).float()
        n_out = specs[-1][2]
        target = torch.full((b, n_out), 10.0, device=dev)
        opt = torch.optim.Adam(params, lr=1e-3) if case["kind"] != "fwdbwd" else None

        def sync():
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def step():
            if opt:
                opt.zero_grad(set_to_none=True)
            s = forward(x)
            counts = s.sum(0)
            loss = ((counts - target) ** 2).mean()
            loss.backward()
            if opt:
                opt.step()
            else:
                for p in params:
                    p.grad = None

        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for _ in range(2):
            step()
        sync()
        times = []
        t0 = time.perf_counter()
        while len(times) < 3 or time.perf_counter() - t0 < a.seconds:
            s0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - s0)
        med = statistics.median(times)
        out.update(
            shape=case_name,
            batch=b,
            bins=t,
            what="fwd+bwd" if case["kind"] == "fwdbwd" else "train step",
            seconds_per_step=med,
            samples_per_s=b / med,
            steps=len(times),
            device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            peak_bytes=torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None,
            version=version,
            torch=torch.__version__,
        )
    except BaseException as e:  # noqa: BLE001 - every failure is a reported row
        tb = traceback.format_exc().strip().splitlines()
        out["error"] = f"{type(e).__name__}: {e}"[:400]
        out["where"] = tb[-3:] if len(tb) >= 3 else tb
    print(json.dumps(out), flush=True)
    return 0 if "error" not in out else 1


if __name__ == "__main__":
    sys.exit(main())
