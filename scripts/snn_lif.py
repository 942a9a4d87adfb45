#!/usr/bin/env python3
"""Train an snnTorch LIF network on spike rasters, export it to NIR with
snnTorch's own exporter, and run snnTorch's simulation of it; the client of
the LIF import check in trainer/tests/nir.rs.

    snn_lif.py RASTERS LABELS S BINS N TRAIN OUT_DIR KIND SEED EPOCHS

RASTERS holds S rasters of BINS x N uint8 (sample-major, then bin, then
input), LABELS S uint8 classes; the first TRAIN samples train, the rest are
the validation set. KIND is `leaky` (snn.Leaky, a NIR LIF) or `synaptic`
(snn.Synaptic, a NIR CubaLIF). The network is N -> 64 -> 10 (with biases for
`leaky`, NIR Affine nodes; none for the others),
reset to zero in the step of the spike (reset_delay=False: what NIR's LIF
and snnTorch's NIR import do), trained for
EPOCHS epochs on the output spike counts (cross-entropy, Adam, batches of 10).
KIND `norse` trains the same with Norse's LIFBoxCell (see norse_main), `sinabs`
with Sinabs' IAF (see sinabs_main). Writes OUT_DIR/net.nir
(snntorch.export_nir.export_to_nir) and OUT_DIR/result.json: the output spike counts
of every validation sample from the trained network ("original"), from
the network snnTorch re-imports from the file ("reimported",
snntorch.import_nir.import_from_nir) and from the trained network with its
weights rounded to slayer's int8 grid ("int8_grid"), the training accuracy
and epochs.
"""

import json
import os
import sys

import numpy as np


def main():
    import nir
    import snntorch as snn
    import torch
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    rasters, labels, s, bins, n, train, out_dir, kind, seed, epochs = sys.argv[1:11]
    s, bins, n, train, seed = int(s), int(bins), int(n), int(train), int(seed)
    epochs = int(epochs)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    x = np.fromfile(rasters, dtype=np.uint8).reshape(s, bins, n)
    y = np.fromfile(labels, dtype=np.uint8)[:s]
    x = torch.from_numpy(x.astype(np.float32))
    y = torch.from_numpy(y.astype(np.int64))

    if kind == "norse":
        return norse_main(x, y, n, train, out_dir, epochs)
    if kind == "sinabs":
        return sinabs_main(x, y, n, train, out_dir, epochs)

    def neuron(width, output=False):
        # Per-neuron parameter vectors (all equal): with scalars the
        # exported LIF nodes have no shape and nir's type check fails.
        full = lambda v: torch.full((width,), v)  # noqa: E731
        common = dict(
            beta=full(0.9),
            threshold=full(1.0),
            reset_mechanism="zero",
            reset_delay=False,
            init_hidden=True,
            output=output,
        )
        if kind == "leaky":
            return snn.Leaky(**common)
        return snn.Synaptic(alpha=full(0.8), **common)

    # The Leaky network with biases (PyTorch's default: NIR Affine nodes,
    # a constant input every step), the Synaptic one without.
    bias = kind == "leaky"
    net = torch.nn.Sequential(
        torch.nn.Linear(n, 64, bias=bias),
        neuron(64),
        torch.nn.Linear(64, 10, bias=bias),
        neuron(10, output=True),
    )

    def counts(model, xs):
        utils.reset(model)
        total = 0
        for t in range(xs.shape[1]):
            out = model(xs[:, t])
            spk = out[0] if isinstance(out, tuple) else out
            total = total + spk
        return total

    acc, original = fit(net, lambda xs: counts(net, xs), x, y, train, epochs)
    int8 = on_int8_grid(net, lambda xs: counts(net, xs), x[train:])

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "net.nir")
    # The sample without a batch axis: the graph's input type is then [n].
    graph = export_to_nir(net, torch.zeros(n))
    nir.write(path, graph)

    from snntorch.import_nir import import_from_nir

    back = import_from_nir(nir.read(path))
    with torch.no_grad():
        reimported = run_imported(back, x[train:])
    write_result(out_dir, original, reimported, int8, acc, epochs)


def write_result(out_dir, original, reimported, int8, acc, epochs, **extra):
    """Writes OUT_DIR/result.json (see the module documentation)."""
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump(
            {
                "original": original,
                "reimported": reimported,
                "int8_grid": int8,
                "train_accuracy": acc,
                "epochs": epochs,
                **extra,
            },
            f,
        )


def fit(net, counts, x, y, train, epochs):
    """Trains `net` for `epochs` on the first `train` samples (cross-entropy
    on the output spike counts `counts(xs)`, Adam, batches of 10); returns the
    training accuracy and the output counts of the other samples."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    batch = 10
    for _ in range(epochs):
        order = torch.randperm(train)
        for b in range(0, train, batch):
            idx = order[b : b + batch]
            loss = torch.nn.functional.cross_entropy(counts(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((counts(x[:train]).argmax(1) == y[:train]).float().mean())
        return acc, counts(x[train:]).round().long().tolist()


def on_int8_grid(net, counts, xs):
    """The output counts `counts(xs)` of the network with each Linear's
    weights (and bias) rounded to its layer's int8 grid (steps of max |w| /
    127, as `slayer import --bits 8` quantises them; the bias on the same
    steps, unclipped): the framework's own simulation of the weights an int8
    import runs. The weights are restored after."""
    import torch

    saved = []
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                saved.append((m, m.weight.clone(), None if m.bias is None else m.bias.clone()))
                step = m.weight.abs().max() / 127
                m.weight.copy_(torch.round(m.weight / step) * step)
                if m.bias is not None:
                    m.bias.copy_(torch.round(m.bias / step) * step)
        out = counts(xs).round().long().tolist()
        for m, w, b in saved:
            m.weight.copy_(w)
            if b is not None:
                m.bias.copy_(b)
    return out


def norse_main(x, y, n, train, out_dir, epochs):
    """The same with Norse 1.1: LIFBoxCell neurons (forward Euler at dt =
    1 ms: v += dt/τ·(−v + i), reset to 0 in the step of the spike),
    exported with norse.torch.utils.export_nir.to_nir. Norse writes each
    LIF's τ as dt·τ (dt/τ_inv), so its file imports with --dt = dt², and its
    own from_nir does not run it back (it reads τ as seconds): "reimported"
    repeats "original"."""
    import nir
    import norse.torch as nt
    import torch
    from norse.torch.utils.export_nir import to_nir

    dt = 1e-3

    def cell(width):
        p = nt.LIFBoxParameters(
            tau_mem_inv=torch.full((width,), 100.0),
            v_th=torch.full((width,), 0.2),
            v_leak=torch.zeros(width),
            v_reset=torch.zeros(width),
        )
        return nt.LIFBoxCell(p, dt=dt)

    net = nt.SequentialState(
        torch.nn.Linear(n, 64, bias=False),
        cell(64),
        torch.nn.Linear(64, 10, bias=False),
        cell(10),
    )
    # Norse's Euler step scales the input by dt/τ = 0.1: larger initial
    # weights, or the untrained network never spikes (and never learns).
    with torch.no_grad():
        net[0].weight.mul_(10.0)
        net[2].weight.mul_(10.0)

    def counts(xs):
        state, total = None, 0
        for t in range(xs.shape[1]):
            out, state = net(xs[:, t], state)
            total = total + out
        return total

    acc, original = fit(net, counts, x, y, train, epochs)
    int8 = on_int8_grid(net, counts, x[train:])
    os.makedirs(out_dir, exist_ok=True)
    nir.write(os.path.join(out_dir, "net.nir"), to_nir(net, torch.zeros(n), dt=dt))
    write_result(out_dir, original, original, int8, acc, epochs, dt=dt)


def sinabs_main(x, y, n, train, out_dir, epochs):
    """The same with Sinabs 3.1: IAF neurons (v += input each step, a spike
    when v reaches the threshold, reset by subtraction; SingleSpike: at
    most one spike per step, as NIR's IF and slayer's core fire), exported
    with sinabs.to_nir (IF with r = 1, Affine with a zero bias).
    "reimported" runs sinabs.from_nir's network."""
    import nir
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneSubtract, SingleSpike

    def iaf():
        return sl.IAF(spike_threshold=1.0, spike_fn=SingleSpike, reset_fn=MembraneSubtract())

    net = torch.nn.Sequential(
        torch.nn.Linear(n, 64, bias=False),
        iaf(),
        torch.nn.Linear(64, 10, bias=False),
        iaf(),
    )

    def run(model, xs):
        # Sinabs layers take (batch, time, ...) and keep state between calls.
        sinabs.reset_states(model)
        return model(xs).sum(1)

    acc, original = fit(net, lambda xs: run(net, xs), x, y, train, epochs)
    int8 = on_int8_grid(net, lambda xs: run(net, xs), x[train:])
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "net.nir")
    # Exported through the same Linear layers with IAFSqueeze neurons (time
    # folded into the batch): a sample of one step without a time axis then
    # gives the graph the input type [n] that nir.read's type check wants.
    squeezed = torch.nn.Sequential(
        net[0],
        sl.IAFSqueeze(batch_size=1, spike_threshold=1.0, spike_fn=SingleSpike, reset_fn=MembraneSubtract()),
        net[2],
        sl.IAFSqueeze(batch_size=1, spike_threshold=1.0, spike_fn=SingleSpike, reset_fn=MembraneSubtract()),
    )
    nir.write(path, sinabs.to_nir(squeezed, torch.zeros(1, n)))
    # Sinabs' import (IAFSqueeze layers, which clamp v at −θ) on (time, n).
    back = sinabs.from_nir(nir.read(path), batch_size=1)
    with torch.no_grad():
        reimported = []
        for i in range(train, x.shape[0]):
            sinabs.reset_states(back)
            out = back(x[i])
            out = out[0] if isinstance(out, tuple) else out
            reimported.append(out.sum(0).round().long().tolist())
    write_result(out_dir, original, reimported, int8, acc, epochs)


def run_imported(model, xs):
    """Output spike counts of snnTorch's network re-imported from NIR (a
    nirtorch graph executor that carries its state between calls)."""
    import torch

    result = []
    for i in range(xs.shape[0]):
        state = None
        total = None
        for t in range(xs.shape[1]):
            out, state = model(xs[i : i + 1, t], state)
            spk = out[0] if isinstance(out, tuple) else out
            total = spk if total is None else total + spk
        result.append(total.reshape(-1).round().long().tolist())
    return result


if __name__ == "__main__":
    main()
