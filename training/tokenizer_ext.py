"""`evals train tokenizer`: extend a BPE vocabulary with Chinese pieces learned from a corpus.

This is what the seeds did to Llama's 32K vocabulary (CLA2: 55,296 pieces; Atom: 65,000), done
here for Hugging Face fast BPE tokenizers: BPE training *continues* from the base tokenizer's own
segmentation of the corpus — the most frequent adjacent pair of pieces inside Han-character words
becomes a new piece and a new (lowest-priority) merge, N times. Because the new merges rank after
all existing ones, text the base never saw is tokenised exactly as before, and every added piece is
reachable. Characters the base only knows as UTF-8 byte pieces are added first (one piece each).
New embedding rows start as the mean of their two parts (input and output embeddings), so the
extended model scores text sensibly before any training; the headline is characters per token.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from training.portable import make_portable

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

    from db import Database
    from training.common import Log, Trained

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_BYTE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def chars_per_token(tok: PreTrainedTokenizerBase, texts: list[str]) -> float:
    """Characters per token over `texts` (no special tokens) — higher means cheaper Chinese."""
    chars = sum(len(t) for t in texts)
    tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts)
    return chars / max(1, tokens)


def _han_words(tok: PreTrainedTokenizerFast, texts: list[str]) -> Counter[tuple[str, ...]]:
    """Base segmentation (as piece strings) of every pre-tokenised word containing Han characters."""
    backend = tok.backend_tokenizer
    words: Counter[str] = Counter()
    for t in texts:
        normalized = backend.normalizer.normalize_str(t) if backend.normalizer is not None else t
        pre = (
            backend.pre_tokenizer.pre_tokenize_str(normalized)
            if backend.pre_tokenizer is not None
            else [(normalized, None)]
        )
        for w, _ in pre:
            if _HAN.search(w):
                words[w] += 1
    out: Counter[tuple[str, ...]] = Counter()
    for w, c in words.items():
        out[tuple(x.value for x in backend.model.tokenize(w))] += c
    return out


def plan_extension(
    tok: PreTrainedTokenizerFast, texts: list[str], add: int, min_frequency: int = 2
) -> tuple[list[str], list[tuple[str, str]]]:
    """(new pieces in order, new merges) — continued BPE over the base segmentation."""
    vocab = tok.backend_tokenizer.get_vocab()
    words = _han_words(tok, texts)
    new: list[str] = []
    merges: list[tuple[str, str]] = []
    # 1) characters that only exist as byte pieces -> single pieces (most frequent first)
    chars: Counter[str] = Counter()
    for t in texts:
        for ch in _HAN.findall(t):
            if ch not in vocab:
                chars[ch] += 1
    for ch, c in chars.most_common():
        if len(new) >= add or c < min_frequency:
            break
        new.append(ch)
        vocab[ch] = -1
    if chars:  # re-segment with those characters as pieces
        words = Counter({_resegment(w, set(new)): c for w, c in words.items()})
    # 2) continued BPE merges
    seqs = [list(w) for w in words]
    freqs = list(words.values())
    while len(new) < add:
        pairs: Counter[tuple[str, str]] = Counter()
        for s, f in zip(seqs, freqs, strict=True):
            for a, b in zip(s, s[1:]):
                if not (_BYTE.match(a) or _BYTE.match(b)):
                    pairs[(a, b)] += f
        best = None
        for (a, b), c in pairs.most_common():
            if c < min_frequency:
                break
            if a + b not in vocab:
                best = (a, b)
                break
        if best is None:
            break
        a, b = best
        piece = a + b
        merges.append(best)
        new.append(piece)
        vocab[piece] = -1
        for s in seqs:
            i = 0
            while i < len(s) - 1:
                if s[i] == a and s[i + 1] == b:
                    s[i : i + 2] = [piece]
                i += 1
    return new, merges


def _resegment(word: tuple[str, ...], new_chars: set[str]) -> tuple[str, ...]:
    """Replace the byte pieces of newly added characters by the characters themselves."""
    if not any(_BYTE.match(p) for p in word):
        return word
    out: list[str] = []
    raw = b""
    for p in word:
        if _BYTE.match(p):
            raw += bytes([int(p[3:5], 16)])
            try:
                ch = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            out += [ch] if ch in new_chars else [f"<0x{x:02X}>" for x in raw]
            raw = b""
        else:
            out.append(p)
    return tuple(out)


def extend_tokenizer(
    tok: PreTrainedTokenizerBase, texts: list[str], add: int
) -> tuple[PreTrainedTokenizerBase, list[str], list[tuple[str, str]]]:
    """Return (extended tokenizer, new pieces, new merges); the base tokenizer is not modified."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if not isinstance(tok, PreTrainedTokenizerFast):
        raise UserError("tokenizer extension needs a fast (tokenizer.json) tokenizer")
    data = json.loads(tok.backend_tokenizer.to_str())
    if data.get("model", {}).get("type") != "BPE":
        raise UserError(f"tokenizer extension supports BPE tokenizers; this one is {data.get('model', {}).get('type')}")
    pieces, merges = plan_extension(tok, texts, add)
    if not pieces:
        raise UserError("the corpus yields no new Chinese pieces (every frequent pair is already in the vocabulary)")
    vocab = data["model"]["vocab"]
    next_id = max(max(vocab.values()), *(a["id"] for a in data.get("added_tokens", [])) or [0]) + 1
    for p in pieces:
        vocab[p] = next_id
        next_id += 1
    old = data["model"]["merges"]
    as_pairs = bool(old) and isinstance(old[0], list)
    old.extend([[a, b] if as_pairs else f"{a} {b}" for a, b in merges])
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        (Path(tmp) / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        for f in ("tokenizer.model",):  # a slow sentencepiece model would disagree with the new vocab
            (Path(tmp) / f).unlink(missing_ok=True)
        new_tok = AutoTokenizer.from_pretrained(tmp)
    return new_tok, pieces, merges


def init_new_rows(
    model: PreTrainedModel,
    old_tok: PreTrainedTokenizerBase,
    new_tok: PreTrainedTokenizerBase,
    pieces: list[str],
    merges: list[tuple[str, str]],
) -> None:
    """New embedding / lm_head rows = mean of their two parts (chars: mean of their byte pieces)."""
    import torch

    merge_of = {a + b: (a, b) for a, b in merges}
    emb = _weight(model.get_input_embeddings())
    assert emb is not None
    head = _weight(model.get_output_embeddings())
    with torch.no_grad():
        for p in pieces:
            pid = new_tok.convert_tokens_to_ids(p)
            if p in merge_of:
                parts = [new_tok.convert_tokens_to_ids(x) for x in merge_of[p]]
            else:
                parts = [old_tok.convert_tokens_to_ids(f"<0x{b:02X}>") for b in p.encode("utf-8")]
            parts = [i for i in parts if i is not None and i != new_tok.unk_token_id]
            if not parts:
                continue
            emb[pid] = emb[parts].mean(0)
            if head is not None and head.data_ptr() != emb.data_ptr():
                head[pid] = head[parts].mean(0)


def _weight(module: torch.nn.Module | None) -> torch.Tensor | None:
    """The `weight` matrix of an embedding or output layer; None when there is no such layer."""
    import torch

    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, torch.Tensor) else None


def extend(
    base: str | Path,
    corpus: Path,
    add: int,
    *,
    out: Path | None = None,
    name: str | None = None,
    database: Database | None = None,
    log: Log = print,
) -> Trained:
    """Extend the base's tokenizer with up to `add` pieces from `corpus`, resize the model, save and register."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.common import (
        OutputDir,
        Trained,
        default_out_dir,
        ensure_registered,
        finish,
        input_vocab,
        resolve_base,
        short_hash,
    )
    from training.data import fingerprint, load_corpus

    if add < 1:
        raise UserError("--add must be >= 1")
    b = resolve_base(base, database)
    texts, files = load_corpus(corpus)
    data_sha = fingerprint(files)
    tok = AutoTokenizer.from_pretrained(b.path)
    new_tok, pieces, merges = extend_tokenizer(tok, texts, add)
    before, after = chars_per_token(tok, texts), chars_per_token(new_tok, texts)
    name = name or f"{b.name}-tok{len(pieces)}-{short_hash(b.fingerprint, data_sha, add)}"
    target = OutputDir(out if out is not None else default_out_dir(name))
    try:
        model = AutoModelForCausalLM.from_pretrained(b.path, dtype=torch.float32)
        n_old = input_vocab(model)
        model.resize_token_embeddings(len(new_tok), mean_resizing=False)
        init_new_rows(model, tok, new_tok, pieces, merges)
        model.save_pretrained(target.tmp, safe_serialization=True)
        new_tok.save_pretrained(target.tmp)
        make_portable(target.tmp, new_tok)
        lineage = {
            "stage": "tokenizer", "method": "vocab-extension", "vocab_before": len(tok), "vocab_after": len(new_tok),
            "embeddings_before": n_old, "added": len(pieces), "requested": add, "pieces_sample": pieces[:50],
            "chars_per_token_before": round(before, 4), "chars_per_token_after": round(after, 4),
            "data": {"path": str(Path(corpus).resolve()), "format": "text", "sha256": data_sha, "n_examples": len(texts)},
            "loss_curve": [], "steps": 0,
        }  # fmt: skip
        ensure_registered(database, b)
        final = finish(database=database, name=name, out=target, lineage=lineage, base=b, adapter=False,
                       params={"n_params": sum(p.numel() for p in model.parameters()), "method": "vocab-extension"})  # fmt: skip
    finally:
        target.cleanup()
    log(f"vocabulary {len(tok)} -> {len(new_tok)} (+{len(pieces)}); characters per token {before:.3f} -> {after:.3f} "
        f"({(after / before - 1) * 100:+.1f}%) on {corpus}")  # fmt: skip
    return Trained(name, final, lineage)
