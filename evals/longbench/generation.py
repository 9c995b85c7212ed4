"""LongBench request building: prompt, middle truncation, chat decision, generation settings, post-processing.

Order of operations per item (PROTOCOLS.md §3.2–3.5 and the Leitai decisions):

1. `build_prompt`: the task's official template filled with the item's fields.
2. `middle_truncate`: tokenize with the tokenizer's defaults (BOS included); if the ids are longer
   than the prompt budget, keep the first `budget // 2` and the last `budget // 2` ids, decode
   each half with special tokens skipped, and join the two texts. The result is text: the runner
   re-tokenizes it, so the final count can differ from the budget by a few tokens (as officially).
3. `wrap_chat`: only for chat runs and only for tasks outside the protocol's skip set
   (lsht, lcc, repobench-p among the Chinese + code tasks). Truncation happens *before* this.

The prompt budget (Leitai rule, issue item 2): `budget = max_length - max_gen`, where
`max_length` is the model's context (`--max-length`, default `runner.info.max_length`) and
`max_gen` the task's generation length. So prompt + generation always fits the context. The
official LB `pred.py` instead truncates the prompt to `model2maxlen` (e.g. 3500 for a 4k model)
and adds `max_gen` on top; to reproduce one of its rows, pass `--max-length` = that value plus
the task's `max_gen` (e.g. 3500 + 64 for the 64-token tasks). CLA2's default `--max_length 3584`
equals our budget for vcsum (512 new tokens) on a 4096-token model.

Post-processing: the stored prediction is the raw decoded continuation (new tokens only, special
tokens skipped), exactly what the official `pred/{dataset}.jsonl` holds; the task's scoring rules
(first line for lsht, first code line for lcc/repobench-p) are applied when scoring, so
`evals rescore` can always re-derive scores from what was stored. `scored_text` shows the part of
a prediction the first-line rule keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import UserError
from evals.longbench.tasks import TaskSpec, build_prompt, get_task
from runners import GenParams, Runner

Sampling = Literal["greedy", "cla2"]
SAMPLINGS: tuple[str, ...] = ("greedy", "cla2")
TEMPLATES: tuple[str, ...] = ("llama2", "auto")
PROMPT_VERSION = "lb-v1"  # §3.2 templates + middle truncation to max_length - max_gen + §3.4 chat wrappers


@dataclass(frozen=True, slots=True)
class Truncated:
    """A prompt after middle truncation.

    Attributes:
        text: The prompt text to send (unchanged when it fitted).
        n_tokens: Its token count as the tokenizer first saw it (before truncation).
        truncated: Whether the middle was cut out.
    """

    text: str
    n_tokens: int
    truncated: bool


def middle_truncate(runner: Any, prompt: str, budget: int) -> Truncated:
    """Cut the middle out of `prompt` so that it holds about `budget` tokens (§3.3).

    Args:
        runner: Its `encode` (the tokenizer's defaults, so BOS counts) and `decode` (specials
            skipped) are the model's tokenizer.
        prompt: The filled task template.
        budget: Most tokens the prompt may have, >= 2.

    Returns:
        The (possibly) shortened text, the original token count and whether it was cut.
    """
    if budget < 2:
        raise ValueError(f"prompt budget must be >= 2 tokens, got {budget}")
    ids = runner.encode([prompt])[0]
    if len(ids) <= budget:
        return Truncated(prompt, len(ids), False)
    half = budget // 2  # int(max_length / 2) for a non-negative integer
    head = runner.decode(ids[:half])
    tail = runner.decode(ids[-half:])
    return Truncated(head + tail, len(ids), True)


def uses_chat(task: str, chat: bool) -> bool:
    """Whether a chat run wraps this task's prompt (never for the protocol's skip set, §3.4)."""
    return chat and not get_task(task).skip_chat


def llama2_inst(prompt: str) -> str:
    """LB's Llama-2 `build_chat`: the prompt between `[INST]` and `[/INST]`, no spaces, no system turn."""
    return f"[INST]{prompt}[/INST]"


def wrap_chat(runner: Runner, task: str, prompt: str, *, chat: bool, template: str) -> str:
    """The text the runner receives: the truncated prompt, chat-wrapped where the protocol wraps it.

    Args:
        runner: Needed only for `template="auto"` (its `apply_chat_template`).
        task: Dataset name (decides the skip set).
        prompt: Prompt after truncation.
        chat: The run's `--chat`.
        template: "llama2" (`[INST]{prompt}[/INST]`) or "auto" (the tokenizer's own template,
            one user turn, no system prompt).
    """
    if not uses_chat(task, chat):
        return prompt
    if template == "llama2":
        return llama2_inst(prompt)
    if template == "auto":
        try:
            return runner.apply_chat_template([{"role": "user", "content": prompt}])
        except ValueError as exc:
            raise UserError(f"--template auto: {exc}") from None
    raise UserError(f"unknown chat template {template!r} ({' | '.join(TEMPLATES)})")


def gen_params(max_new_tokens: int, sampling: str) -> GenParams:
    """`GenParams` for a task: greedy (official LB, default) or CLA2's sampling settings (§3.5)."""
    if sampling == "greedy":
        return GenParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=42)
    if sampling == "cla2":
        return GenParams(
            max_new_tokens=max_new_tokens, temperature=0.2, top_p=0.95, top_k=40, repetition_penalty=1.1, seed=42
        )
    raise UserError(f"unknown --sampling {sampling!r} ({' | '.join(SAMPLINGS)})")


def task_max_gen(spec: TaskSpec, override: int | None) -> int:
    """The task's `max_new_tokens` (dataset2maxlen) or the debugging override `--max-new-tokens`."""
    if override is not None:
        return override
    if spec.max_gen is None:
        raise UserError(f"LongBench task {spec.name!r} has no pinned generation length (PROTOCOLS.md §3.2)")
    return spec.max_gen


def prompt_budget(max_length: int, max_gen: int) -> int:
    """Tokens left for the prompt: the context minus the generation budget (Leitai rule, see module doc)."""
    budget = max_length - max_gen
    if budget < 2:
        raise UserError(f"--max-length {max_length} leaves no room for a prompt next to {max_gen} new tokens")
    return budget


def request_text(item: Mapping[str, Any], task: str) -> str:
    """The filled official template for one data line (fields `context`, `input`)."""
    return build_prompt(task, {"context": item["context"], "input": item["input"]})


def postprocess(task: str, raw: str) -> str:
    """The prediction to store: the raw decoded continuation, unchanged (as official `pred.py` writes it).

    The protocol's per-task rules act at scoring time (see `scored_text`); keeping the raw text
    is what lets `evals rescore` recompute everything without the model.
    """
    get_task(task)
    return raw


def scored_text(task: str, pred: str) -> str:
    """The part of `pred` the first-line rule keeps (§3.6: lsht and the English few-shot tasks)."""
    if get_task(task).first_line_only:
        return pred.lstrip("\n").split("\n")[0]
    return pred
