#!/usr/bin/env python3
"""The table of scripts/gpu-check.sh: reads its bench.jsonl (our `slayer bench
--json` lines, the peers' lines of scripts/peer_bench.py, the real runs) and
prints one Markdown table of every figure, then the ratios the issue asks for
(ours on the GPU against our CPU and against the fastest peer, per shape).

    python3 scripts/gpu_table.py gpu-check-out/bench.jsonl
"""

import json
import sys


def main(path):
    rows, ours, peers, errors, runs = [], {}, {}, [], []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "failed" in d:
            rows.append(("FAILED: slayer bench " + d["failed"], "", "", "", "", "", "", ""))
            continue
        if "real_run" in d:
            runs.append(d)
            continue
        if "peer" in d:
            if "error" in d:
                errors.append(d)
                continue
            key = d["case"]
            what = d["what"]
            mem = "-" if d.get("peak_bytes") is None else f'{d["peak_bytes"] / 1e9:.2f}'
            rows.append((d["case"], f'{d["peer"]} {d.get("version", "")}', d["device"],
                         str(d["batch"]), what, f'{d["seconds_per_step"]:.4f}',
                         f'{d["samples_per_s"]:.1f}', mem))
            best = peers.get(key)
            if best is None or d["samples_per_s"] > best[1]:
                peers[key] = (d["peer"], d["samples_per_s"])
            continue
        dev = d.get("device", "?")
        for r in d.get("rows", []):
            rows.append((r["name"], "slayer-rs", dev, str(r["batch"]), "train step",
                         f'{r["batch"] / r["train_samples_per_s"]:.4f}',
                         f'{r["train_samples_per_s"]:.1f}', "-"))
            side = "cuda" if "cuda" in dev else "cpu"
            ours[(r["name"], side)] = r["train_samples_per_s"]
        for r in d.get("fwd_bwd", []):
            mem = "-"
            if r.get("tensors_peak_bytes") is not None:
                mem = f'{r["tensors_peak_bytes"] / 1e9:.2f} / {r["device_peak_bytes"] / 1e9:.2f}'
            prec = r.get("precision", "")
            rows.append((r["name"], f"slayer-rs {prec}".strip(), r["device"], str(r["batch"]),
                         "fwd+bwd (" + ("full" if r["input_grad"] else "weights") + ")",
                         f'{r["seconds_per_iter"]:.4f}', f'{r["samples_per_s"]:.1f}', mem))
            side = "cuda" if "cuda" in r["device"] else "cpu"
            key = (r["name"], side)
            ours[key] = max(ours.get(key, 0.0), r["samples_per_s"])
    print("| case | who | device | batch | what | s/step | samples/s | peak GB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if errors:
        print()
        print("Peers that did not run:")
        for e in errors:
            print(f'- {e["peer"]} {e["case"]}: {e["error"]}')
    print()
    print("| case | ours cuda / ours cpu | fastest peer | ours cuda / fastest peer |")
    print("|---|---|---|---|")
    for case in sorted({k[0] for k in ours}):
        g, c = ours.get((case, "cuda")), ours.get((case, "cpu"))
        p = peers.get(case)
        vs_cpu = f"{g / c:.1f}x" if g and c else "-"
        vs_peer = f"{g / p[1]:.1f}x" if g and p else "-"
        print(f'| {case} | {vs_cpu} | {p[0] + f" {p[1]:.1f}/s" if p else "-"} | {vs_peer} |')
    for r in runs:
        print(f'real run on {r["real_run"]}: {json.dumps(r["result"])}')


if __name__ == "__main__":
    main(sys.argv[1])
