"""The prompts a perf run sends: fixed-length synthetic text, or real questions from a dataset.

- `fixed`: distinct pseudo-random Chinese text per prompt (seeded, so reruns and `vllm bench serve` get
  the same prompts), cut to exactly `input_len` tokens by a tokenizer when one is known (the local model's,
  or `--tokenizer`); without one, `input_len` characters (the server's usage count then says the tokens).
- `ceval` / `longbench`: the items of those suites' data (`--data`, default their embedded samples).
- `bank`: the arena question bank stored in the database (`evals arena bank import`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from core.errors import UserError

if TYPE_CHECKING:
    from db import Database

SOURCES = ("fixed", "ceval", "longbench", "bank")
# Common characters, so every tokenizer of a Chinese model splits the text into ordinary tokens.
_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后"
    "多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还"
)


class Tokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = ...) -> str: ...


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A Hugging Face tokenizer from a model dir (`--tokenizer`, or the local model's own)."""
    try:
        from transformers import AutoTokenizer

        tok = cast(Tokenizer, AutoTokenizer.from_pretrained(str(path)))
    except (OSError, ValueError) as exc:
        raise UserError(f"--tokenizer: cannot load a tokenizer from {path} ({type(exc).__name__})") from None
    return tok


def fixed_prompts(n: int, input_len: int, *, tokenizer: Tokenizer | None = None, seed: int = 0) -> list[str]:
    """`n` distinct prompts of `input_len` tokens (characters without a tokenizer)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        # Generous text, then an exact cut: re-encoding a decoded cut can merge pieces, so trim until it fits.
        text = "".join(rng.choice(_CHARS) for _ in range(input_len * 2 + 8))
        if tokenizer is None:
            out.append(text[:input_len])
            continue
        ids = tokenizer.encode(text, add_special_tokens=False)[:input_len]
        cut = tokenizer.decode(ids, skip_special_tokens=True)
        while len(tokenizer.encode(cut, add_special_tokens=False)) > input_len and cut:
            cut = cut[:-1]
        out.append(cut)
    return out


def dataset_prompts(source: str, *, data: Path | None, database: Database | None, limit: int | None) -> list[str]:
    """The questions of a dataset as chat prompts (`source` one of ceval, longbench, bank)."""
    if source == "bank":
        return _bank_prompts(database, limit)
    from evals.registry import get_suite
    from evals.suite_api import SuiteOptions

    items: Sequence[Any] = get_suite(source).plan(SuiteOptions(data=data)).items
    texts = [_item_text(it) for it in items]
    return texts[:limit] if limit else texts


def _item_text(item: Any) -> str:
    inner = getattr(item, "item", item)  # LongBench plan items wrap the data row
    if hasattr(inner, "options") and hasattr(inner, "question"):
        letters = "ABCD"
        choices = "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(inner.options))
        return f"{inner.question}\n{choices}\n答案："
    if hasattr(inner, "context") and hasattr(inner, "input"):
        return f"{inner.context}\n\n{inner.input}"
    raise TypeError(f"no prompt text in a {type(inner).__name__}")


def _bank_prompts(database: Database | None, limit: int | None) -> list[str]:
    from sqlalchemy import select

    from db.models_arena import ArenaPrompt

    if database is None:
        raise UserError("--prompts bank reads the question bank from the database")
    with database.session() as s:
        q = select(ArenaPrompt.text).order_by(ArenaPrompt.id)
        texts = list(s.scalars(q.limit(limit) if limit else q))
    if not texts:
        raise UserError(
            "--prompts bank: the database holds no arena questions; import some with `evals arena bank import`"
        )
    return texts
