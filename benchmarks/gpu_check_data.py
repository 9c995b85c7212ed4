"""Synthetic inputs for `benchmarks/gpu_check.py`: C-Eval items in the official layout and a PPL text.

The models measured there are random-init (the 7B shape) or tiny, so the content only has to look like the
real thing to the tokenizer: Chinese sentences from the tiny model's own corpus, cut into questions and
options. Everything is seeded, so two runs read the same tokens.
"""

from __future__ import annotations

import csv
import math
import random
import re
from pathlib import Path

from evals.mc.ceval_subjects import SUBJECTS
from training.tiny import corpus_text, heldout_text

HEADER = ["id", "question", "A", "B", "C", "D", "answer", "explanation"]


def _sentences() -> list[str]:
    text = corpus_text() + "\n" + heldout_text()
    parts = (s.strip() for s in re.split(r"[。！？\n]", text))
    return [s for s in parts if len(s) >= 8]


def write_ceval(root: Path, *, subjects: int, val_items: int, shots: int, seed: int = 0) -> tuple[Path, list[str]]:
    """Write `{root}/{dev,val}/{subject}_{split}.csv` for the first `subjects` official subjects.

    Returns (data dir, subject handles). dev holds `shots` exemplars with explanations, val `val_items` items.
    """
    rng = random.Random(seed)
    pool = _sentences()
    names = list(SUBJECTS)[:subjects]

    def row(i: int) -> list[str]:
        stem = rng.choice(pool)
        options = [rng.choice(pool)[: rng.randint(4, 12)] for _ in range(4)]
        return [str(i), f"{stem[:40]}____。", *options, rng.choice("ABCD"), rng.choice(pool)]

    for split, n in (("dev", shots), ("val", val_items)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in names:
            with (root / split / f"{name}_{split}.csv").open("w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(HEADER)
                w.writerows(row(i) for i in range(n))
    return root, names


def write_ppl_text(path: Path, *, tokens: int, tokens_per_char: float, seed: int = 0) -> Path:
    """One .txt of shuffled corpus paragraphs, long enough for about `tokens` tokens at `tokens_per_char`."""
    rng = random.Random(seed)
    paragraphs = [p for p in (corpus_text() + "\n" + heldout_text()).split("\n") if p.strip()]
    need = math.ceil(tokens / max(tokens_per_char, 1e-6))
    out: list[str] = []
    size = 0
    while size < need:
        rng.shuffle(paragraphs)
        for p in paragraphs:
            out.append(p)
            size += len(p) + 1
            if size >= need:
                break
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
