"""C-Eval prompt strings pinned against PROTOCOLS.md §1.3 (written out by hand here)."""

from __future__ import annotations

from evals.mc.data import MCItem
from evals.mc.prompts import build_prompt

SYS = "You are a helpful assistant. 你是一个乐于助人的助手。"


def item(i: int, answer: str = "A") -> MCItem:
    return MCItem("computer_network", str(i), f"问题{i}", (f"a{i}", f"b{i}", f"c{i}", f"d{i}"), answer)


def test_zero_shot_base_has_no_header():
    prompt, prefix = build_prompt(item(0), [], chat=False)
    assert prompt == "问题0\nA. a0\nB. b0\nC. c0\nD. d0\n答案："
    assert prefix == ""


def test_two_shot_base_uses_subject_handle_header():
    prompt, prefix = build_prompt(item(9), [item(1, "B"), item(2, "C")], chat=False)
    expected = (
        "以下是中国关于computer_network考试的单项选择题，请选出其中的正确答案。\n\n"
        "问题1\nA. a1\nB. b1\nC. c1\nD. d1\n答案：B\n\n"
        "问题2\nA. a2\nB. b2\nC. c2\nD. d2\n答案：C\n\n"
        "问题9\nA. a9\nB. b9\nC. c9\nD. d9\n答案："
    )
    assert prompt == expected
    assert prompt.startswith(prefix) and prefix.endswith("答案：C\n\n")


def test_zero_shot_chat_llama2():
    prompt, _ = build_prompt(item(0), [], chat=True, template="llama2")
    assert prompt == "[INST] <<SYS>>\n" + SYS + "\n<</SYS>>\n\n问题0\nA. a0\nB. b0\nC. c0\nD. d0\n答案： [/INST]"


def test_one_shot_chat_llama2_repeats_system_block():
    prompt, prefix = build_prompt(item(9), [item(1, "D")], chat=True, template="llama2")
    expected = (
        "[INST] <<SYS>>\n" + SYS + "\n<</SYS>>\n\n"
        "以下是中国关于computer_network考试的单项选择题，请选出其中的正确答案。\n\n [/INST]"
        "好的，我会结合computer_network相关知识回答"
        "[INST] 问题1\nA. a1\nB. b1\nC. c1\nD. d1\n答案：[/INST]D\n"
        "[INST] <<SYS>>\n" + SYS + "\n<</SYS>>\n\n问题9\nA. a9\nB. b9\nC. c9\nD. d9\n答案： [/INST]"
    )
    assert prompt == expected
    assert prompt.startswith(prefix)


def test_auto_template_renders_messages_in_order():
    seen = []

    def render(messages):
        seen.append(messages)
        return "".join(f"<{m['role']}>{m['content']}" for m in messages)

    prompt, prefix = build_prompt(item(9), [item(1, "B")], chat=True, template="auto", render_chat=render)
    roles = [m["role"] for m in seen[0]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert prompt.endswith("<user>问题9\nA. a9\nB. b9\nC. c9\nD. d9\n答案：")
    assert prompt.startswith(prefix) and prefix
