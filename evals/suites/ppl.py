"""Perplexity (`evals run --suite ppl`): PROTOCOLS.md "Leitai decisions" PPL and §4.3.

Options (SuiteOptions.extra, set by `evals run --mode/--context/--stride`):
    mode     chunks (default, llama.cpp-compatible) | sliding
    context  n_ctx; None = 4096, shrunk (powers of two) to fit a short text in chunks mode. Always
             clipped to the model's maximum length.
    stride   sliding mode only; default n_ctx // 2; must be <= n_ctx - 1.

One item = one document (a .txt file or a .jsonl line); its row stores the NLL sums and counts, and
`aggregate` recomputes the corpus PPL from the stored rows, so a resumed run equals a fresh one.

Chunks mode follows llama.cpp's BOS rule (`evals.ppl.bos`): BOS is put in front and replaces each
chunk's first token only when the vocabulary adds BOS by default; the metrics say which (`add_bos`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from evals.ppl import metrics as ppl_metrics
from evals.ppl.bos import runner_adds_bos
from evals.ppl.data import Corpus, Document, load_corpus
from evals.ppl.windows import (
    MIN_CONTEXT,
    MODES,
    chunk_windows,
    default_stride,
    resolve_context,
    sliding_windows,
)
from evals.registry import suite
from evals.resources import resource
from evals.suite_api import Headline, ItemRow, Plan, Suite, SuiteCapabilities, SuiteOptions, item_row
from runners import Runner

# v2: chunks mode follows llama.cpp's BOS rule (v1 put EOS in a missing BOS's place); the bump keeps a
# BOS-less model's v1 rows from being resumed into a v2 run.
PROMPT_VERSION = "ppl-v2"
_GROUP_WINDOWS = 32  # documents are scored (and stored) in groups of about this many windows


def ppl_options(extra: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """(mode, context, stride) from SuiteOptions.extra, validated (UserError on bad values)."""
    mode = extra.get("mode") or "chunks"
    context = extra.get("context")
    stride = extra.get("stride")
    if mode not in MODES:
        raise UserError(f"unknown --mode {mode!r} (chunks | sliding)")
    if context is not None and context < MIN_CONTEXT:
        raise UserError(f"--context must be >= {MIN_CONTEXT}, got {context}")
    if stride is not None:
        if mode != "sliding":
            raise UserError("--stride applies to --mode sliding only (chunks mode uses disjoint windows)")
        if stride < 1:
            raise UserError(f"--stride must be >= 1, got {stride}")
        if context is not None and stride > context - 1:
            raise UserError(f"--stride {stride} must be <= --context - 1 = {context - 1} so every token is scored once")
    return mode, context, stride


@dataclass(frozen=True, slots=True)
class PPLContext:
    corpus: Corpus
    mode: str
    context: int | None  # as requested (None = the default, fitted to the model and text)
    stride: int | None


@suite("ppl")
class Perplexity(Suite[Document, PPLContext]):
    """`evals run --suite ppl [--data FILE_OR_DIR] [--mode chunks|sliding] [--context N] [--stride S]`."""

    capabilities = SuiteCapabilities(
        title="PPL",
        report="perplexity",
        headline=Headline("ppl", "ppl", digits=3, column="PPL"),
        options=frozenset({"mode", "context", "stride"}),
    )

    def plan(self, opts: SuiteOptions) -> Plan[Document, PPLContext]:
        mode, context, stride = ppl_options(opts.extra)
        corpus = load_corpus(opts.data or resource("ppl") / "zh_sample.txt")
        docs = corpus.documents[: opts.limit] if opts.limit else corpus.documents
        return Plan(
            items=docs,
            split="text",
            prompt_version=PROMPT_VERSION,
            data_fingerprint=corpus.sha256[:16],
            identity={"mode": mode, "context": context, "stride": stride},
            context=PPLContext(corpus, mode, context, stride),
        )

    def predict(
        self, runner: Runner, plan: Plan[Document, PPLContext], items: Sequence[Document], *, batch_size: int
    ) -> Iterator[list[ItemRow]]:
        scorer = runner  # a backend without token log-probs raises VerbUnsupported: one line
        setup = self.setup(scorer, plan)
        group: list[tuple[Document, list[Any]]] = []
        n_windows = 0
        for doc in items:
            windows = setup.windows(doc)
            group.append((doc, windows))
            n_windows += len(windows)
            if n_windows >= max(_GROUP_WINDOWS, batch_size):
                yield self._score(scorer, setup, group, batch_size)
                group, n_windows = [], 0
        if group:
            yield self._score(scorer, setup, group, batch_size)

    def setup(self, runner: Runner, plan: Plan[Document, PPLContext]) -> _Setup:
        """Tokenize every document of the plan and fix n_ctx and stride for this model."""
        ctx = plan.context
        docs = plan.items
        encoded = runner.encode([d.text for d in docs], specials=False)  # openai: VerbUnsupported, one line
        add_bos = runner_adds_bos(runner)
        # chunks: BOS in front only when the vocabulary adds it (llama.cpp); sliding: always a leading
        # BOS (EOS stands in for a missing one) so that every text token is scored.
        lead = [runner.bos_token_id] if ctx.mode == "sliding" or add_bos else []
        ids = {d.key: [*lead, *e] for d, e in zip(docs, encoded, strict=True)}
        shortest = min(docs, key=lambda d: len(ids[d.key]))
        n_ctx, note = resolve_context(
            ctx.context, runner.info.max_length, ctx.mode, (shortest.key, len(ids[shortest.key]))
        )
        stride = None
        if ctx.mode == "sliding":
            stride = ctx.stride if ctx.stride is not None else default_stride(n_ctx)
            if stride > n_ctx - 1:
                raise UserError(f"--stride {stride} must be <= n_ctx - 1 = {n_ctx - 1} (n_ctx {note or 'as given'})")
        return _Setup(ctx.mode, n_ctx, stride, note, ids, runner.bos_token_id if add_bos else None, len(lead))

    def _score(
        self, runner: Runner, setup: _Setup, group: list[tuple[Document, list[Any]]], batch_size: int
    ) -> list[ItemRow]:
        flat = [w for _, windows in group for w in windows]
        logprobs = runner.token_logprobs(flat, batch_size=batch_size)
        rows, i = [], 0
        for doc, windows in group:
            sums = []
            for lp in logprobs[i : i + len(windows)]:
                lp = lp.double()
                sums.append((float(lp.sum()), float((lp * lp).sum()), int(lp.numel())))
            i += len(windows)
            text_tokens = len(setup.ids[doc.key]) - setup.n_lead
            extra = ppl_metrics.document_stats(sums, tokens=text_tokens, chars=len(doc.text))
            extra.update({"mode": setup.mode, "n_ctx": setup.n_ctx, "stride": setup.stride, "context_note": setup.note,
                          "add_bos": setup.bos is not None})  # fmt: skip
            ppl = math.exp(extra["nll"] / extra["scored"]) if extra["scored"] else None
            rows.append(
                item_row(
                    doc.key, subject=doc.source, pred=None if ppl is None else f"{ppl:.6g}", score=ppl, extra=extra
                )
            )
        return rows

    def aggregate(self, plan: Plan[Document, PPLContext] | None, rows: Sequence[ItemRow]) -> dict[str, Any]:
        if plan is None:
            raise ValueError("PPL aggregates with its plan (the corpus and window settings)")
        ctx = plan.context
        out = ppl_metrics.corpus_metrics([dict(r) for r in rows])
        first = rows[0]["extra"] if rows else {}
        out.update({
            "mode": ctx.mode, "n_ctx": first.get("n_ctx"), "stride": first.get("stride"),
            "context_requested": ctx.context, "corpus_sha256": ctx.corpus.sha256,
            "add_bos": first.get("add_bos"),
        })  # fmt: skip
        if first.get("context_note"):
            out["context_note"] = first["context_note"]
        return out

    def item_json(self, row: ItemRow) -> dict[str, Any]:
        e = row["extra"]
        return {
            "id": row["item_id"], "source": row["subject"], "ppl": row["score"], "nll": e["nll"],
            "scored_tokens": e["scored"], "tokens": e["tokens"], "characters": e["chars"],
            "windows": e["windows"], "n_ctx": e["n_ctx"],
        }  # fmt: skip


class _Setup:
    """n_ctx/stride fixed for one model, plus every document's token ids (`n_lead` leading BOS/EOS tokens,
    0 or 1, then the text tokens). `bos` is the id chunks start with, None when the vocabulary adds no BOS."""

    def __init__(
        self,
        mode: str,
        n_ctx: int,
        stride: int | None,
        note: str,
        ids: dict[str, list[int]],
        bos: int | None,
        n_lead: int,
    ):
        self.mode, self.n_ctx, self.stride, self.note, self.ids, self.bos = mode, n_ctx, stride, note, ids, bos
        self.n_lead = n_lead

    def windows(self, doc: Document) -> list[Any]:
        ids = self.ids[doc.key]
        if self.mode == "chunks" or self.stride is None:
            return chunk_windows(ids, self.n_ctx, self.bos)
        return sliding_windows(ids, self.n_ctx, self.stride)
