"""LongBench task table: dataset -> language, category, metric, prompt, max_gen, chat-skip.

Everything here is transcribed from PROTOCOLS.md §3.1–3.4 and §3.6. English tasks carry
their category and metric (so their prediction files can be scored) but no prompt or
generation length yet: PROTOCOLS.md does not pin them, and we never guess a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import UserError

Language = Literal["zh", "en", "code"]

# Category handles (JSON keys) -> the seed table's column headers, in the seed's column order.
CATEGORIES: dict[str, str] = {
    "single_doc_qa": "单文档QA",
    "multi_doc_qa": "多文档QA",
    "summarization": "摘要",
    "few_shot": "Few-shot学习",
    "code": "代码补全",
    "synthetic": "合成任务",
}

# Length buckets of LongBench-E (§3.8): (label, exclusive upper bound of the `length` field).
LENGTH_BUCKETS: tuple[tuple[str, float], ...] = (("0-4k", 4000), ("4-8k", 8000), ("8k+", float("inf")))


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One LongBench dataset.

    Attributes:
        name: Dataset name as in the official files (`{name}.jsonl`).
        language: "zh" or "en" (which seed table it belongs to), "code" for the two code
            tasks that both tables share.
        category: A key of `CATEGORIES`.
        metric: Name of the metric in `evals.longbench.metrics.METRICS`.
        prompt: `str.format` template over the item's fields (§3.2), None where unpinned.
        max_gen: `max_new_tokens` (dataset2maxlen), None where unpinned.
        skip_chat: Official pred.py sends these prompts without any chat template (§3.4).
        first_line_only: Scoring keeps only `pred.lstrip("\\n").split("\\n")[0]` (§3.6).
    """

    name: str
    language: Language
    category: str
    metric: str
    prompt: str | None = None
    max_gen: int | None = None
    skip_chat: bool = False
    first_line_only: bool = False


# The official scorer applies the first-line rule to exactly these four datasets, and the
# official pred.py skips the chat template for these plus the two code tasks.
_FIRST_LINE = frozenset({"trec", "triviaqa", "samsum", "lsht"})
_SKIP_CHAT = _FIRST_LINE | {"lcc", "repobench-p"}

_PROMPTS: dict[str, str] = {
    "dureader": "请基于给定的文章回答下述问题。\n\n文章：{context}\n\n请基于上述文章回答下面的问题。\n\n问题：{input}\n回答：",
    "multifieldqa_zh": (
        "阅读以下文字并用中文简短回答：\n\n{context}\n\n现在请基于上面的文章回答下面的问题，"
        "只告诉我答案，不要输出任何其他字词。\n\n问题：{input}\n回答："
    ),
    "vcsum": "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}\n\n会议总结：",
    "lsht": "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}",
    "passage_retrieval_zh": (
        "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}\n\n"
        '下面是一个摘要\n\n{input}\n\n请输入摘要所属段落的编号。答案格式必须是"段落1"，"段落2"等格式\n\n答案是：'
    ),
    "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
    "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
}

_MAX_GEN: dict[str, int] = {
    "multifieldqa_zh": 64,
    "dureader": 128,
    "vcsum": 512,
    "lsht": 64,
    "passage_retrieval_zh": 32,
    "lcc": 64,
    "repobench-p": 64,
}

# (name, language, category, metric) for all 21 LongBench v1 datasets (§3.1, §3.6).
_TABLE: tuple[tuple[str, Language, str, str], ...] = (
    ("multifieldqa_zh", "zh", "single_doc_qa", "qa_f1_zh_score"),
    ("dureader", "zh", "multi_doc_qa", "rouge_zh_score"),
    ("vcsum", "zh", "summarization", "rouge_zh_score"),
    ("lsht", "zh", "few_shot", "classification_score"),
    ("passage_retrieval_zh", "zh", "synthetic", "retrieval_zh_score"),
    ("lcc", "code", "code", "code_sim_score"),
    ("repobench-p", "code", "code", "code_sim_score"),
    ("narrativeqa", "en", "single_doc_qa", "qa_f1_score"),
    ("qasper", "en", "single_doc_qa", "qa_f1_score"),
    ("multifieldqa_en", "en", "single_doc_qa", "qa_f1_score"),
    ("hotpotqa", "en", "multi_doc_qa", "qa_f1_score"),
    ("2wikimqa", "en", "multi_doc_qa", "qa_f1_score"),
    ("musique", "en", "multi_doc_qa", "qa_f1_score"),
    ("gov_report", "en", "summarization", "rouge_score"),
    ("qmsum", "en", "summarization", "rouge_score"),
    ("multi_news", "en", "summarization", "rouge_score"),
    ("trec", "en", "few_shot", "classification_score"),
    ("triviaqa", "en", "few_shot", "qa_f1_score"),
    ("samsum", "en", "few_shot", "rouge_score"),
    ("passage_count", "en", "synthetic", "count_score"),
    ("passage_retrieval_en", "en", "synthetic", "retrieval_score"),
)

TASKS: dict[str, TaskSpec] = {
    name: TaskSpec(
        name=name,
        language=lang,
        category=cat,
        metric=metric,
        prompt=_PROMPTS.get(name),
        max_gen=_MAX_GEN.get(name),
        skip_chat=name in _SKIP_CHAT,
        first_line_only=name in _FIRST_LINE,
    )
    for name, lang, cat, metric in _TABLE
}

# The seed (CLA2) table: `pred_llama2.py --predict_on zh,code`.
ZH_TASKS: tuple[str, ...] = (
    "multifieldqa_zh",
    "dureader",
    "vcsum",
    "lsht",
    "passage_retrieval_zh",
    "lcc",
    "repobench-p",
)

# LongBench-E has only these 13 datasets, none of them Chinese (§3.8).
E_TASKS: frozenset[str] = frozenset(
    {
        "qasper",
        "multifieldqa_en",
        "hotpotqa",
        "2wikimqa",
        "gov_report",
        "multi_news",
        "trec",
        "triviaqa",
        "samsum",
        "passage_count",
        "passage_retrieval_en",
        "lcc",
        "repobench-p",
    }
)


def get_task(name: str) -> TaskSpec:
    """Look a dataset up by name.

    Args:
        name: Official dataset name, e.g. "multifieldqa_zh".

    Returns:
        Its `TaskSpec`.

    Raises:
        UserError: The name is not a LongBench dataset.
    """
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown LongBench task {name!r}; known: {', '.join(TASKS)}") from None


def length_bucket(length: int) -> str:
    """The LongBench-E bucket label of an item's `length` field ("0-4k", "4-8k" or "8k+")."""
    for label, upper in LENGTH_BUCKETS:
        if length < upper:
            return label
    raise AssertionError("unreachable: the last bucket is unbounded")


def build_prompt(task: str, item: dict[str, object]) -> str:
    """Fill the official prompt template of `task` with an item's fields (§3.2).

    Args:
        task: Dataset name.
        item: A record with at least the template's fields (`context`, `input`).

    Returns:
        The prompt, before truncation and before any chat template.

    Raises:
        UserError: The task has no pinned prompt (English tasks for now).
    """
    spec = get_task(task)
    if spec.prompt is None:
        raise UserError(f"LongBench task {task!r} has no pinned prompt yet (see PROTOCOLS.md §3.2)")
    return spec.prompt.format(**item)
