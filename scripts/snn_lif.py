#!/usr/bin/env python3
"""Train an snnTorch LIF network on spike rasters, export it to NIR with
snnTorch's own exporter, and run snnTorch's simulation of it; the client of
the LIF import check in trainer/tests/nir.rs.

    snn_lif.py RASTERS LABELS S BINS N TRAIN OUT_DIR KIND SEED EPOCHS

RASTERS holds S rasters of BINS x N uint8 (sample-major, then bin, then
input), LABELS S uint8 classes; the first TRAIN samples train, the rest are
the validation set. KIND is `leaky` (snn.Leaky, a NIR LIF), `synaptic`
(snn.Synaptic, a NIR CubaLIF) or `rleaky` (the hidden layer an snn.RLeaky:
a NIR LIF with a recurrent Affine loop). The network is N -> 64 -> 10
(with biases for `leaky` and `rleaky`, NIR Affine nodes; none for
`synaptic`), reset to zero in the step of the spike (reset_delay=False: what NIR's LIF
and snnTorch's NIR import do), trained for
EPOCHS epochs on the output spike counts (cross-entropy, Adam, batches of 10).
KIND `norse` trains the same with Norse's LIFBoxCell (see norse_main), `sinabs`
with Sinabs' IAF (see sinabs_main); `sinabs_conv` and `leaky_conv` are
convolutional networks on the inputs as a 2 x 34 x 34 image (see
sinabs_conv_main and leaky_conv_main). Writes OUT_DIR/net.nir
(snntorch.export_nir.export_to_nir) and OUT_DIR/result.json: the output spike counts
of every validation sample from the trained network ("original"), from
the network snnTorch re-imports from the file ("reimported",
snntorch.import_nir.import_from_nir; for `rleaky`, whose file snnTorch
cannot re-import, the error instead) and from the trained network with its
weights rounded to slayer's int8 grid ("int8_grid"), the training accuracy
and epochs.
"""

import json
import math
import os
import sys

import numpy as np


def main():
    import nir
    import snntorch as snn
    import torch
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
    if kind == "sinabs_conv":
        return sinabs_conv_main(x, y, n, train, out_dir, epochs)
    if kind == "leaky_conv":
        return leaky_conv_main(x, y, n, train, out_dir, epochs)

    def neuron(width, output=False):
        common = leaky_params((width,), output)
        if kind == "rleaky" and not output:
            # Recurrent: all-to-all through a Linear(64, 64) with bias,
            # which the exporter writes as a loop lif → w_rec → lif.
            return snn.RLeaky(linear_features=width, **common)
        if kind in ("leaky", "rleaky"):
            return snn.Leaky(**common)
        return snn.Synaptic(alpha=torch.full((width,), 0.8), **common)

    # The Leaky networks with biases (PyTorch's default: NIR Affine nodes,
    # a constant input every step), the Synaptic one without.
    bias = kind in ("leaky", "rleaky")
    net = torch.nn.Sequential(
        torch.nn.Linear(n, 64, bias=bias),
        neuron(64),
        torch.nn.Linear(64, 10, bias=bias),
        neuron(10, output=True),
    )
    # The recurrent layer's two Linears are quantised as one (see on_int8_grid).
    tied = [(net[0], net[1].recurrent)] if kind == "rleaky" else []

    def counts(xs):
        return snntorch_counts(net, xs)

    acc, original = fit(net, counts, x, y, train, epochs)
    int8 = on_int8_grid(net, counts, x[train:], tied=tied)

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "net.nir")
    # The sample without a batch axis: the graph's input type is then [n].
    graph = export_to_nir(net, torch.zeros(n))
    nir.write(path, graph)

    from snntorch.import_nir import import_from_nir

    try:
        back = import_from_nir(nir.read(path))
        with torch.no_grad():
            reimported = run_imported(back, x[train:])
    except Exception as e:  # noqa: BLE001
        # snnTorch 1.0.0 cannot re-import its own RLeaky export (nirtorch
        # 2.6 fails on the loop: "'GraphModule' object has no attribute
        # 'items'"): said in the result instead of counts.
        if kind != "rleaky":
            raise
        reimported = f"{type(e).__name__}: {e}"
    write_result(out_dir, original, reimported, int8, acc, epochs)


def leaky_params(shape, output):
    """snnTorch Leaky/Synaptic/RLeaky arguments (β 0.9, θ 1, reset to zero).

    The parameters have the neurons' full shape, all equal: a scalar makes an
    LIF node without a shape, which nir's type check rejects (and, after a
    Conv2d, export_to_nir's type inference: [8, 16, 16] → []).
    """
    import torch

    full = lambda v: torch.full(shape, v)  # noqa: E731
    return dict(
        beta=full(0.9),
        threshold=full(1.0),
        reset_mechanism="zero",
        reset_delay=False,
        init_hidden=True,
        output=output,
    )


def snntorch_counts(net, xs, shape=None):
    """Output spike counts (batch, outputs) of an snnTorch network of
    init_hidden neurons over the bins of xs (batch, time, n), its state
    reset first; each bin reshaped to (batch, *shape) when shape is given."""
    from snntorch import utils

    utils.reset(net)
    total = 0
    for t in range(xs.shape[1]):
        step = xs[:, t]
        if shape is not None:
            step = step.reshape(-1, *shape)
        out = net(step)
        total = total + (out[0] if isinstance(out, tuple) else out)
    return total


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


def fit(net, counts, x, y, train, epochs, lr=2e-3):
    """Trains `net` for `epochs` on the first `train` samples (cross-entropy
    on the output spike counts `counts(xs)`, Adam at rate `lr`, batches of
    10); returns the training accuracy and the output counts of the other
    samples."""
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=lr)
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


def on_int8_grid(net, counts, xs, bias_split=None, tied=()):
    """The output counts `counts(xs)` of the network with each Linear's and
    Conv2d's weights (and bias) rounded to its layer's int8 grid (steps of max |w| /
    127, as `slayer import --bits 8` quantises them; the bias on the same
    steps, unclipped): the framework's own simulation of the weights an int8
    import runs. `bias_split` maps a module to k where slayer folds a k-tap
    average pool into its weights: the folded weights are w / k on the grid
    of w / k, and the bias is rounded to steps of max |w| / (127 k). `tied`
    holds pairs (feed-forward Linear, recurrent Linear) of one recurrent
    layer, which slayer quantises as one: both on the grid of the larger
    max |w|, and the sum of their biases rounded once (carried by the first,
    the second's set to 0). The weights are restored after."""
    import torch

    saved = []
    split = bias_split or {}
    partner = {a: b for f, r in tied for a, b in ((f, r), (r, f))}
    with torch.no_grad():
        layers = [m for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        for m in layers:
            saved.append((m, m.weight.clone(), None if m.bias is None else m.bias.clone()))
        for f, r in tied:
            f.bias.add_(r.bias)
            r.bias.zero_()
        for m in layers:
            wmax = max(m.weight.abs().max(), partner.get(m, m).weight.abs().max())
            step = wmax / 127
            m.weight.copy_(torch.round(m.weight / step) * step)
            if m.bias is not None:
                fine = step / split.get(m, 1)
                m.bias.copy_(torch.round(m.bias / fine) * fine)
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


# The N inputs of a bin as an image for the convolutional kinds: channel
# (polarity) · H · W + y · W + x, N = 2 · 34 · 34.
INPUT_SHAPE = (2, 34, 34)


def sinabs_conv_main(x, y, n, train, out_dir, epochs):
    """A convolutional network with Sinabs 3.1 IAF neurons (as sinabs_main)
    on the input as a (2, 34, 34) image: Conv2d(2→8, 5×5, stride 2,
    padding 1) → IAF → SumPool2d(2) → Conv2d(8→16, 3×3, padding 1) → IAF →
    SumPool2d(2) → Flatten → Linear(16·4·4→10) → IAF, no biases. Exported
    with sinabs.to_nir (Conv2d and Affine with zero biases, IF with r = 1 per
    neuron, SumPool2d) and its types completed with NIR's infer_types.
    "reimported" runs sinabs.from_nir's network."""
    import nir
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneSubtract, SingleSpike

    assert n == np.prod(INPUT_SHAPE), f"{n} inputs are not {INPUT_SHAPE}"
    bins = x.shape[1]
    conv1 = torch.nn.Conv2d(2, 8, 5, stride=2, padding=1, bias=False)
    conv2 = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False)
    # The Linear's inputs from the shapes: 34 → 16 (conv1) → 8 (pool) → 8
    # (conv2) → 4 (pool), 16 · 4 · 4 = 256.
    with torch.no_grad():
        pooled = torch.nn.Sequential(conv1, sl.SumPool2d(2), conv2, sl.SumPool2d(2))
        flat = pooled(torch.zeros(1, *INPUT_SHAPE)).numel()
    assert flat == 16 * 4 * 4, flat
    fc = torch.nn.Linear(flat, 10, bias=False)
    # PyTorch's initial weights: the untrained network spikes (a few
    # output spikes a sample), and learns; twice them it learns less.

    def stack(**squeeze):
        # The layers with IAFSqueeze neurons: the convolutions take
        # (batch · time, c, h, w), the neurons unfold the time axis
        # (num_timesteps or batch_size given) to integrate along it.
        def iaf():
            return sl.IAFSqueeze(
                spike_threshold=1.0, spike_fn=SingleSpike, reset_fn=MembraneSubtract(), **squeeze
            )

        return torch.nn.Sequential(
            conv1,
            iaf(),
            sl.SumPool2d(2),
            conv2,
            iaf(),
            sl.SumPool2d(2),
            torch.nn.Flatten(),
            fc,
            iaf(),
        )

    # The bins run in chunks of `chunk` (a divisor of BINS): the neurons
    # keep their state, and the gradient, from one call to the next, so the
    # simulation and its gradient are those of one call, but the backward
    # pass of Sinabs' per-step loop (a full-size gradient for every step's
    # slice of its input) costs chunk / BINS as much: ~4x faster for 300.
    chunk = math.gcd(bins, 30)
    net = stack(num_timesteps=chunk)

    def run(xs):
        # (batch, time, n) → (batch · time, 2, 34, 34) → counts (batch, 10).
        sinabs.reset_states(net)
        total = 0
        for part in xs.split(chunk, dim=1):
            out = net(part.reshape(-1, *INPUT_SHAPE))
            total = total + out.reshape(xs.shape[0], chunk, -1).sum(1)
        return total

    acc, original = fit(net, run, x, y, train, epochs)
    int8 = on_int8_grid(net, run, x[train:])
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "net.nir")
    # Exported through the same layers with neurons of batch 1 and a sample
    # of one step (1, 2, 34, 34): the graph's input type is then [2, 34, 34]
    # (to_nir drops the batch axis). Sinabs leaves the Conv2d nodes without
    # an input shape (nir.write then fails): infer_types sets it from the
    # input type, as snnTorch's exporter does.
    graph = sinabs.to_nir(stack(batch_size=1), torch.zeros(1, *INPUT_SHAPE))
    graph.infer_types()
    nir.write(path, graph)
    # Sinabs' import (IAFSqueeze layers, which clamp v at −θ and may fire
    # more than once a step) on (time, 2, 34, 34).
    back = sinabs.from_nir(nir.read(path), batch_size=1)
    with torch.no_grad():
        reimported = []
        for i in range(train, x.shape[0]):
            sinabs.reset_states(back)
            out = back(x[i].reshape(-1, *INPUT_SHAPE))
            out = out[0] if isinstance(out, tuple) else out
            reimported.append(out.sum(0).round().long().tolist())
    write_result(out_dir, original, reimported, int8, acc, epochs)


def leaky_conv_main(x, y, n, train, out_dir, epochs):
    """A convolutional network with snnTorch Leaky neurons (as `leaky`:
    β = 0.9, threshold 1, reset to zero in the step of the spike) on the
    input as a (2, 34, 34) image: Conv2d(2→8, 5×5, stride 2, padding 1) →
    Leaky → AvgPool2d(2) → Flatten → Linear(8·8·8→10) → Leaky, with biases.
    Exported with snntorch.export_nir.export_to_nir (Conv2d, LIF, AvgPool2d,
    Flatten, Affine, LIF); "reimported" runs snntorch.import_nir's
    network."""
    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    assert n == np.prod(INPUT_SHAPE), f"{n} inputs are not {INPUT_SHAPE}"
    conv = torch.nn.Conv2d(2, 8, 5, stride=2, padding=1)
    # The neurons' shapes from the layers: 34 → 16 (conv) → 8 (pool),
    # 8 · 8 · 8 = 512 inputs to the Linear.
    with torch.no_grad():
        hidden = tuple(conv(torch.zeros(1, *INPUT_SHAPE)).shape[1:])
    assert hidden == (8, 16, 16), hidden

    def neuron(shape, output=False):
        return snn.Leaky(**leaky_params(shape, output))

    # AvgPool2d((2, 2)), not AvgPool2d(2): snnTorch writes the module's
    # kernel_size and stride as they are, and its import cannot read back
    # the scalar an int kernel gives.
    net = torch.nn.Sequential(
        conv,
        neuron(hidden),
        torch.nn.AvgPool2d((2, 2)),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 8 * 8, 10),
        neuron((10,), output=True),
    )

    def counts(xs):
        return snntorch_counts(net, xs, INPUT_SHAPE)

    # PyTorch's initial weights, tripled: with them as they are the few
    # input events of a 1 ms bin seldom lift a Leaky membrane to its
    # threshold (about one output spike in a sample), and the network
    # learns little in 6 epochs; tripled, at rate 5e-3, it learns.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.mul_(3.0)
    acc, original = fit(net, counts, x, y, train, epochs, lr=5e-3)
    # slayer folds the AvgPool2d (4 taps of 1/4) into the Linear after it.
    int8 = on_int8_grid(net, counts, x[train:], bias_split={net[4]: 4})
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "net.nir")
    # A sample with a batch axis (the Flatten keeps axis 0), dropped from
    # the graph's types (ignore_dims): its input type is then [2, 34, 34].
    graph = export_to_nir(net, torch.zeros(1, *INPUT_SHAPE), ignore_dims=[0])
    nir.write(path, graph)
    back = import_from_nir(nir.read(path))
    with torch.no_grad():
        reimported = run_imported(back, x[train:], INPUT_SHAPE)
    write_result(out_dir, original, reimported, int8, acc, epochs)


def run_imported(model, xs, shape=None):
    """Output spike counts of snnTorch's network re-imported from NIR (a
    nirtorch graph executor that carries its state between calls); each
    bin's inputs reshaped to `shape` when given."""
    import torch

    result = []
    for i in range(xs.shape[0]):
        state = None
        total = None
        for t in range(xs.shape[1]):
            step = xs[i : i + 1, t]
            if shape is not None:
                step = step.reshape(1, *shape)
            out, state = model(step, state)
            spk = out[0] if isinstance(out, tuple) else out
            total = spk if total is None else total + spk
        result.append(total.reshape(-1).round().long().tolist())
    return result


if __name__ == "__main__":
    main()
