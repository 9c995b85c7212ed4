"""The judge's generated verdict (`evals arena judge --verdict generate`): prompt and parser.

In this mode the judge writes a judgment, as Arena-Hard-Auto's judge does: a short analysis of both
answers, ending with one verdict in Arena-Hard-Auto's notation, ``[[A>>B]]``, ``[[A>B]]``,
``[[A=B]]``, ``[[B>A]]`` or ``[[B>>A]]``. `parse_verdict` reads it back.

The parsing rule is Arena-Hard-Auto's: every verdict mark in the text is collected, and the text has
a verdict only when exactly one *distinct* verdict was found. A verdict named in the analysis and
repeated at the end counts once; two different ones (say ``[[A>B]]`` while weighing the answers and
``[[B>A]]`` at the end) are contradictory, and the text has no verdict. We do not let the last one
win: a judge that names two verdicts has not decided, and guessing which one it meant would put
words in its mouth. Marks are read after NFKC normalization, so full-width brackets, letters,
signs and spaces (``［［Ａ＞Ｂ］］``, ``[[A > B]]``) count like their ASCII forms; ``[[B=A]]`` is
``[[A=B]]``. Anything else in double brackets (``[[A<B]]``, ``[[C>A]]``) is not a verdict mark.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# The comparison both verdict modes show the judge (criteria, question, the two answers); each mode
# adds its own closing instruction (`arena.judge.JUDGE_TEMPLATE`: one digit; here: analysis, then a mark).
COMPARISON: Final = (
    "请比较下面两个回答，判断哪一个更好地回应了用户的问题。"
    "评判时综合考虑：是否切题、内容是否正确、是否有帮助、是否完整、表达是否清楚通顺；"
    "回答更长不代表更好。\n\n"
    "【用户问题】\n{question}\n\n"
    "【回答A】\n{answer_a}\n【回答A结束】\n\n"
    "【回答B】\n{answer_b}\n【回答B结束】\n\n"
)
GENERATE_TEMPLATE: Final = COMPARISON + (
    "请先简要分析两个回答各自的优点和不足（指出其中的错误或遗漏），"
    "然后在最后单独一行给出结论。结论只能是下面五种标记之一，只写一个：\n"
    "[[A>>B]] —— 回答A明显更好\n[[A>B]] —— 回答A稍好\n[[A=B]] —— 两者水平相当（平局）\n"
    "[[B>A]] —— 回答B稍好\n[[B>>A]] —— 回答B明显更好"
)

# After NFKC: two opening brackets, a side, a relation, the other side, two closing brackets;
# spaces anywhere inside. Sides are checked after matching (A against B only).
_MARK = re.compile(r"\[\s*\[\s*([AB])\s*(>\s*>|>|=)\s*([AB])\s*\]\s*\]")
_VALID: Final = {"A>>B": "A>>B", "A>B": "A>B", "A=B": "A=B", "B=A": "A=B", "B>A": "B>A", "B>>A": "B>>A"}


def generate_user_prompt(question: str, answer_a: str, answer_b: str) -> str:
    """The user turn of a generate-mode judge (answer A is the one shown first)."""
    return GENERATE_TEMPLATE.format(question=question.strip(), answer_a=answer_a.strip(), answer_b=answer_b.strip())


def verdict_marks(text: str) -> list[str]:
    """Every verdict mark in `text`, in order, as a level ("A>>B" … "B>>A")."""
    marks = []
    for left, relation, right in _MARK.findall(unicodedata.normalize("NFKC", text)):
        level = _VALID.get(left + re.sub(r"\s+", "", relation) + right)
        if level is not None:
            marks.append(level)
    return marks


def parse_verdict(text: str) -> str | None:
    """The judgment's verdict level, or None when it names none or more than one distinct verdict."""
    distinct = set(verdict_marks(text))
    return distinct.pop() if len(distinct) == 1 else None
