"""Prompt strings of the CLA2 protocol (PROTOCOLS.md §1.3, post 2023-09-08) for C-Eval and CMMLU.

Every string here changes numbers: bump PROMPT_VERSION on any edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from evals.mc.data import LETTERS, MCItem

PROMPT_VERSION = "cla2-2023-09-08.1"

CEVAL_SYSTEM = "You are a helpful assistant. 你是一个乐于助人的助手。"
CMMLU_SYSTEM = "你是一个乐于助人的助手。"

# Renders chat messages with a model's own template (runner.apply_chat_template), for --template auto.
ChatRenderer = Callable[[list[dict[str, str]]], str]


def question_block(item: MCItem) -> str:
    """Q(row): the question followed by the four options."""
    return item.question + "".join(f"\n{letter}. {text}" for letter, text in zip(LETTERS, item.options))


def header(subject: str) -> str:
    """HDR(s): `s` is the subject *handle* (e.g. computer_network), as CLA2's eval.py passes it."""
    return "以下是中国关于" + subject + "考试的单项选择题，请选出其中的正确答案。\n\n"


def llama2_turn(system: str, text: str) -> str:
    """TPL(x): one Llama-2 [INST] block with a system prompt."""
    return "[INST] <<SYS>>\n" + system + "\n<</SYS>>\n\n" + text + " [/INST]"


def build_prompt(
    item: MCItem,
    exemplars: Sequence[MCItem],
    *,
    chat: bool,
    template: str = "llama2",
    system: str = CEVAL_SYSTEM,
    render_chat: ChatRenderer | None = None,
) -> tuple[str, str]:
    """Return (prompt, shared_prefix) for one test item.

    The shared prefix is the part identical for every item of the subject (header + exemplars);
    runners may compute its KV cache once. It is a hint only and never changes a score.
    """
    subject = item.subject
    test = question_block(item) + "\n答案："
    if not chat:
        if not exemplars:  # CLA2: no header line at all in zero-shot
            return test, ""
        prefix = header(subject) + "".join(question_block(e) + "\n答案：" + str(e.answer) + "\n\n" for e in exemplars)
        return prefix + test, prefix
    if template == "auto":
        if render_chat is None:
            raise ValueError("template 'auto' needs the model's chat template renderer")
        messages = [{"role": "system", "content": system}]
        if exemplars:
            messages += [
                {"role": "user", "content": header(subject)},
                {"role": "assistant", "content": "好的，我会结合" + subject + "相关知识回答"},
            ]
            for e in exemplars:
                messages += [
                    {"role": "user", "content": question_block(e) + "\n答案："},
                    {"role": "assistant", "content": str(e.answer)},
                ]
        full = render_chat([*messages, {"role": "user", "content": test}])
        prefix = render_chat(messages) if exemplars else ""
        return full, prefix if full.startswith(prefix) else ""
    if template != "llama2":
        raise ValueError(f"unknown template {template!r} (llama2 | auto)")
    if not exemplars:
        return llama2_turn(system, test), ""
    # k-shot with_prompt: the SYS block opens the history and is repeated for the test turn;
    # HDR's trailing "\n\n" sits before " [/INST]"; no </s> between turns (§1.3).
    prefix = (
        "[INST] <<SYS>>\n"
        + system
        + "\n<</SYS>>\n\n"
        + header(subject)
        + " [/INST]好的，我会结合"
        + subject
        + "相关知识回答"
        + "".join("[INST] " + question_block(e) + "\n答案：[/INST]" + str(e.answer) + "\n" for e in exemplars)
    )
    return prefix + llama2_turn(system, test), prefix
