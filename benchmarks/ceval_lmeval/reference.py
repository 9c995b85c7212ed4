"""A straightforward, one-prompt-at-a-time implementation of the C-Eval CLA2 protocol (PROTOCOLS.md
§1.3–1.5), written independently of `evals/` and `runners/`: the ground truth our batched,
prefix-reusing path must reproduce.

For each question: build the prompt, tokenize it whole (tokenizer defaults: BOS), one forward pass,
last-position logits, repetition penalty 1.1 over every id of the prompt (logit < 0 → ×1.1, else ÷1.1),
score[X] = logit[encode(X, no specials)[0]] + logit[encode("：X")[-1]], prediction = first argmax.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

LETTERS = ("A", "B", "C", "D")


def question_block(row) -> str:
    return row.question + "".join(f"\n{x}. {o}" for x, o in zip(LETTERS, row.options))


def prompt(subject: str, row, exemplars: Sequence) -> str:
    test = question_block(row) + "\n答案："
    if not exemplars:  # zero-shot: no header (CLA2 with_prompt=False)
        return test
    head = "以下是中国关于" + subject + "考试的单项选择题，请选出其中的正确答案。\n\n"
    return head + "".join(question_block(e) + "\n答案：" + e.answer + "\n\n" for e in exemplars) + test


def load(model_dir: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return tok, model


def score(tok, model, data: dict, shots: int) -> tuple[dict[tuple[str, str], dict], float]:
    """{(subject, id): {"pred": X, "scores": {...}}} for every val row, and the seconds it took."""
    import torch

    ids = {x: (tok.encode(x, add_special_tokens=False)[0], tok.encode("：" + x)[-1]) for x in LETTERS}
    out: dict[tuple[str, str], dict] = {}
    t = time.perf_counter()
    with torch.inference_mode():
        for subject, splits in data.items():
            exemplars = splits["dev"][:shots]
            for row in splits["val"]:
                text = prompt(subject, row, exemplars)
                input_ids = tok(text, return_tensors="pt")["input_ids"]  # (1, T)
                logits = model(input_ids=input_ids).logits[0, -1].float().clone()  # (V,)
                seen = torch.tensor(sorted(set(input_ids[0].tolist())))
                picked = logits[seen]
                logits[seen] = torch.where(picked < 0, picked * 1.1, picked / 1.1)
                scores = {x: float(logits[a] + logits[b]) for x, (a, b) in ids.items()}
                pred = LETTERS[0]
                for x in LETTERS[1:]:
                    if scores[x] > scores[pred]:
                        pred = x
                out[(subject, row.id)] = {"pred": pred, "scores": scores, "prompt": text}
    return out, time.perf_counter() - t


def _cache_key(model_dir, data: dict, shots: int) -> str:
    """Everything the reference result depends on: weights, tokenizer, exact prompts, library versions."""
    import hashlib
    from importlib.metadata import version
    from pathlib import Path

    h = hashlib.sha256()
    for f in sorted(Path(model_dir).glob("*")):
        if f.suffix in (".safetensors", ".bin", ".json", ".model"):
            h.update(f.name.encode())
            with f.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 24), b""):
                    h.update(block)
    h.update(f"torch {version('torch')} transformers {version('transformers')}".encode())
    for subject, splits in data.items():
        for row in splits["val"]:
            h.update(f"\0{subject}\0{row.id}\0".encode() + prompt(subject, row, splits["dev"][:shots]).encode())
    return h.hexdigest()[:24]


def cached_score(tok, model, data: dict, shots: int, model_dir, cache_dir) -> tuple[dict, float, bool]:
    """`score`, reusing a stored result when nothing it depends on changed (cache_dir None: always compute)."""
    import json
    from pathlib import Path

    path = Path(cache_dir) / f"{_cache_key(model_dir, data, shots)}.json" if cache_dir else None
    if path is not None and path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        out = {(s, i): v for s, i, v in stored["items"]}
        return out, stored["seconds"], True
    out, secs = score(tok, model, data, shots)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"seconds": secs, "items": [[s, i, v] for (s, i), v in out.items()]}, ensure_ascii=False)
        )
        tmp.replace(path)
    return out, secs, False
