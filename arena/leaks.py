"""Identity leaks: does an answer name a model or its vendor?

A voter who reads "我是通义千问" or "As ChatGPT, ..." knows who is who, so the vote is not
anonymous any more. Such votes are stored but excluded from ratings (`arena.votes`).

Matching rules (why they differ by script):
- Latin names match case-insensitively and only as whole words on the letter side: "Llama"
  matches "Llama-2" and "llama3" but not "llamas"; "Kimi" does not match "Kimiko".
- Chinese names match as substrings (Chinese has no word boundaries). Innocent phrases that
  contain a name (海纳百川 contains 百川) are listed under `allow` and blanked before matching.

The list is configurable: `EVALS_LEAK_NAMES` (comma-separated extra names) and
`EVALS_LEAK_FILE` (JSON ``{"names": [...], "allow": [...], "replace_defaults": false}``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ENV_NAMES = "EVALS_LEAK_NAMES"
ENV_FILE = "EVALS_LEAK_FILE"

# Model and AI-vendor names seen in answers of Chinese-arena models. Generic big-tech names
# (Google, 百度, 阿里巴巴, 腾讯, 字节跳动) and names that are also everyday words or that span
# word boundaries in ordinary text are left out or qualified on purpose: 商汤 (the king),
# 书生 ("scholar"), 天工 (今天工作), 通义 (普通义务), 文心 (人文心理), 豆包 (土豆包装), MOSS, Bard.
# Add them via the config when self-descriptions with them become a problem.
DEFAULT_NAMES: tuple[str, ...] = (
    # OpenAI
    "ChatGPT", "GPT-3", "GPT-3.5", "GPT-4", "GPT4", "GPT-4o", "OpenAI",
    # Anthropic
    "Claude", "Anthropic",
    # Meta and LLaMA derivatives
    "Llama", "LLaMA", "Alpaca", "Vicuna", "Meta AI",
    # Alibaba
    "Qwen", "通义千问", "Tongyi",
    # Baidu
    "文心一言", "文心大模型", "ERNIE", "ERNIE Bot",
    # Zhipu
    "智谱", "ChatGLM", "GLM-4", "Zhipu",
    # Baichuan
    "百川", "Baichuan",
    # Moonshot
    "月之暗面", "Moonshot", "Kimi",
    # DeepSeek
    "DeepSeek", "深度求索",
    # others
    "Gemini", "Google Bard", "Mistral", "Mixtral", "零一万物", "01.AI", "讯飞星火", "SparkDesk", "MiniMax",
    "腾讯混元", "Hunyuan", "我是豆包", "豆包大模型", "Doubao", "书生·浦语", "InternLM",
    "商汤科技", "SenseTime", "天工AI", "Skywork", "Yi-34B", "Yi-6B",
)  # fmt: skip

# Everyday phrases that contain a name above but say nothing about who wrote the answer.
DEFAULT_ALLOW: tuple[str, ...] = (
    "海纳百川", "百川归海", "百川东到海",
)  # fmt: skip

_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class LeakChecker:
    """Finds model/vendor names in a text.

    Attributes:
        names: Names to look for (Latin ones case-insensitive, whole-word on letters).
        allow: Phrases blanked before matching (false positives such as 海纳百川).
    """

    names: tuple[str, ...] = DEFAULT_NAMES
    allow: tuple[str, ...] = DEFAULT_ALLOW

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        parts = []
        # Longest first, so "ChatGPT" is reported rather than a shorter overlapping name.
        for name in sorted({n.strip() for n in self.names if n.strip()}, key=len, reverse=True):
            esc = re.escape(name)
            if _LATIN.search(name):
                # Letters may not continue the word on either side; digits and punctuation may ("llama3").
                esc = rf"(?<![A-Za-z]){esc}(?![A-Za-z])"
            parts.append(esc)
        return re.compile("|".join(parts), re.IGNORECASE) if parts else None

    @cached_property
    def _allow(self) -> re.Pattern[str] | None:
        phrases = sorted({a for a in self.allow if a}, key=len, reverse=True)
        return re.compile("|".join(map(re.escape, phrases)), re.IGNORECASE) if phrases else None

    def find(self, text: str) -> list[str]:
        """Return the distinct names found in `text` or in its rendering, in order of first appearance.

        An answer is Markdown; voters see it rendered (`arena.render.visible_text`: entities decoded,
        emphasis joined), so both the raw text and what a voter reads are searched.

        Args:
            text: An answer.

        Returns:
            The matched spellings; [] when the text is clean.
        """
        if self._pattern is None or not text:
            return []
        from arena.render import visible_text

        text = f"{text}\n{visible_text(text)}"
        if self._allow is not None:
            # Blank with a non-letter, so blanking cannot glue two words into a new name.
            text = self._allow.sub(" ", text)
        seen: dict[str, None] = {}
        for m in self._pattern.finditer(text):
            seen.setdefault(m.group(0), None)
        return list(seen)

    def leaks(self, *texts: str) -> list[str]:
        """Names found in any of `texts` (e.g. both answers of a battle)."""
        seen: dict[str, None] = {}
        for t in texts:
            for name in self.find(t):
                seen.setdefault(name, None)
        return list(seen)


def load_checker(path: str | Path | None = None, extra_names: str | None = None) -> LeakChecker:
    """Build the configured checker: defaults, plus a JSON config file, plus extra names.

    Args:
        path: JSON file ``{"names": [...], "allow": [...], "replace_defaults": bool}``;
            None means `$EVALS_LEAK_FILE` if set.
        extra_names: Comma-separated extra names; None means `$EVALS_LEAK_NAMES`.

    Returns:
        The checker.

    Raises:
        ValueError: The config file is unreadable or malformed (message names the file).
    """
    names, allow = list(DEFAULT_NAMES), list(DEFAULT_ALLOW)
    path = path if path is not None else os.environ.get(ENV_FILE) or None
    if path is not None:
        try:
            cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"leak config {path}: {exc}") from None
        if not isinstance(cfg, dict) or not all(
            isinstance(cfg.get(k, []), list) and all(isinstance(x, str) for x in cfg.get(k, []))
            for k in ("names", "allow")
        ):
            raise ValueError(f'leak config {path}: expected {{"names": [str], "allow": [str]}}')
        if cfg.get("replace_defaults"):
            names, allow = [], []
        names += cfg.get("names", [])
        allow += cfg.get("allow", [])
    extra = extra_names if extra_names is not None else os.environ.get(ENV_NAMES, "")
    names += [n.strip() for n in extra.split(",") if n.strip()]
    return LeakChecker(tuple(names), tuple(allow))
