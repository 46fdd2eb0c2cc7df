#!/usr/bin/env python3
"""Ember vs PyTorch, interleaved on this machine: the ratio the training-speed issue asks for.

Each round runs `ember bench --json` for the training workloads, then the PyTorch reference script
(../shared/bench-ref/torch_ref.py, torch 2.13 eager) for the same workloads, and prints both figures and the ratio.
Host noise moves both by 10-20 % between passes, so only ratios from the same round are compared; the summary is
the median over rounds.

Usage (a venv with torch==2.13.0, see ../shared/bench-ref/README.md):
    swift build -c release --product ember
    /path/to/venv/bin/python scripts/bench_compare.py --rounds 3 [--threads 2] [--ember-args "--blas-threads 1"]
    # before/after a change: a release build of the earlier commit runs in the same rounds
    /path/to/venv/bin/python scripts/bench_compare.py --rounds 4 --baseline ../old-checkout/.build/release/ember
"""
import argparse, json, os, pathlib, statistics, subprocess, sys, tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
REF = ROOT.parent / "shared" / "bench-ref" / "torch_ref.py"
TORCH_CMDS = {"mlp_train": "mlp", "mlp_infer": "mlp", "lenet_train": "lenet", "char_lstm_train": "lstm",
              "cifar_cnn_train": "cifar", "gpt_train": "gpt"}


def ember(workloads, threads, extra, seconds, binary=None):
    cmd = [binary or str(ROOT / ".build/release/ember"), "bench", "--json", "--only", ",".join(workloads),
           "--threads", str(threads), "--seconds", str(seconds)] + extra.split()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {r["workload"]: r for r in map(json.loads, filter(None, out.splitlines()))}


def torch(workloads, threads, seconds):
    cmds = sorted({TORCH_CMDS[w] for w in workloads})
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as f:
        subprocess.run([sys.executable, str(REF), *cmds, "--threads", str(threads), "--repeats", "3",
                        "--seconds", str(seconds), "--max-wait", "10", "--json", f.name],
                       check=True, capture_output=True, text=True)
        rows = [json.loads(l) for l in open(f.name) if l.strip()]
    return {r["name"]: r for r in rows if r.get("kind") == "workload"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--workloads", default="mlp_train,mlp_infer,lenet_train")
    p.add_argument("--ember-args", default="")
    p.add_argument("--baseline", default=None, help="another ember binary (an earlier commit's release build) run in the same rounds")
    a = p.parse_args()
    ws = a.workloads.split(",")
    ratios = {w: [] for w in ws}
    base_ratios = {w: [] for w in ws}
    extra = f" {'baseline':>12} {'ratio':>7}" if a.baseline else ""
    print(f"{'round':>5}  {'workload':<12} {'ember':>12} {'pytorch':>12} {'ratio':>7}{extra}")
    for r in range(a.rounds):
        e = ember(ws, a.threads, a.ember_args, a.seconds)
        t = torch(ws, a.threads, a.seconds)
        b = ember(ws, a.threads, a.ember_args, a.seconds, a.baseline) if a.baseline else None
        for w in ws:
            ev, tv = e[w]["value"], t[w]["median"]
            ratios[w].append(ev / tv)
            line = f"{r + 1:>5}  {w:<12} {ev:>12.0f} {tv:>12.0f} {ev / tv:>7.2f}"
            if b:
                bv = b[w]["value"]
                base_ratios[w].append(bv / tv)
                line += f" {bv:>12.0f} {bv / tv:>7.2f}"
            print(line, flush=True)
    print("median ratio (Ember / PyTorch): " + ", ".join(f"{w} {statistics.median(v):.2f}" for w, v in ratios.items()))
    if a.baseline:
        print("median ratio (baseline / PyTorch): " + ", ".join(f"{w} {statistics.median(v):.2f}" for w, v in base_ratios.items()))


if __name__ == "__main__":
    main()
