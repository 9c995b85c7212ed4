"""Official CMMLU prompt and exemplar length control (PROTOCOLS.md §2.3), for `--protocol official`.

The CLA2 protocol needs nothing here: it is the C-Eval machinery (`evals.mc.prompts.build_prompt`)
with `CMMLU_SYSTEM`. Every string here changes numbers: bump OFFICIAL_PROMPT_VERSION on any edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from evals.mc.cmmlu_subjects import chinese_name
from evals.mc.data import LETTERS, MCItem

OFFICIAL_PROMPT_VERSION = "cmmlu-official.1"

# The official evaluator's --max_length default; the token budget of header + exemplars + test.
MAX_LENGTH = 2048

# Counts the tokens of a text as the model sees it, BOS included (Runner.count_tokens).
TokenCounter = Callable[[str], int]


def official_header(subject: str) -> str:
    """Header line with the subject's *Chinese* name (CLA2 uses the handle instead)."""
    return "以下是关于" + chinese_name(subject) + "的单项选择题，请直接给出正确答案的选项。\n\n"


def official_example(item: MCItem, *, with_answer: bool) -> str:
    """`题目：` + question + options + `答案是：`, followed by the letter and a blank line for exemplars."""
    text = "题目：" + item.question + "".join(f"\n{letter}. {opt}" for letter, opt in zip(LETTERS, item.options))
    text += "\n答案是："
    return text + f"{item.answer}\n\n" if with_answer else text


def control_length(
    header_tokens: int, test_tokens: int, exemplar_tokens: Sequence[int], max_length: int = MAX_LENGTH
) -> tuple[bool, list[int]]:
    """Decide what of a few-shot prompt fits, as the official evaluator does.

    Each count is of its text encoded on its own (so each includes the tokenizer's BOS, as the
    original's separate `encode` calls do). Rules:

    1. header + test alone longer than `max_length` -> the prompt is the test example only
       (no header, no exemplars);
    2. otherwise, while the exemplars' total is >= `max_length - (header + test)`, drop *every*
       exemplar of the current maximum length (ties go together, so one step may drop several).

    Args:
        header_tokens: tokens of the header line.
        test_tokens: tokens of the test example (ending `答案是：`).
        exemplar_tokens: tokens of each exemplar, in prompt order.
        max_length: the token budget.

    Returns:
        (keep_header, indices of the kept exemplars in their original order).
    """
    fixed = header_tokens + test_tokens
    if fixed > max_length:
        return False, []
    kept = list(range(len(exemplar_tokens)))
    while kept and sum(exemplar_tokens[i] for i in kept) >= max_length - fixed:
        longest = max(exemplar_tokens[i] for i in kept)
        kept = [i for i in kept if exemplar_tokens[i] != longest]
    return True, kept


def build_official_prompt(
    item: MCItem,
    exemplars: Sequence[MCItem],
    *,
    count_tokens: TokenCounter | None = None,
    max_length: int = MAX_LENGTH,
) -> tuple[str, str]:
    """Return (prompt, shared_prefix) for one test item under the official protocol.

    Plain text, no chat template. With `count_tokens=None` no length control is applied
    (the official code does the same when given no tokenizer).

    Args:
        item: the test question.
        exemplars: the first k dev rows of its subject, in file order.
        count_tokens: the model's token counter (BOS included).
        max_length: token budget for the length control.

    Returns:
        The prompt and its header+exemplars prefix (a KV-cache hint; "" when there is none).
    """
    head = official_header(item.subject)
    test = official_example(item, with_answer=False)
    shots = [official_example(e, with_answer=True) for e in exemplars]
    if count_tokens is not None:
        keep_header, kept = control_length(
            count_tokens(head), count_tokens(test), [count_tokens(s) for s in shots], max_length
        )
        if not keep_header:
            return test, ""
        shots = [shots[i] for i in kept]
    prefix = head + "".join(shots)
    return prefix + test, prefix
