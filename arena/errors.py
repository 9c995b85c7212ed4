"""Refusals the vote page shows to the voter, in Chinese and English."""

from __future__ import annotations


class ArenaRefusal(Exception):
    """A request the arena turns down; safe to show to the voter.

    Attributes:
        code: Stable machine-readable reason (e.g. "already_voted"); pages branch on it.
        message_zh: Chinese message for the voter.
        message_en: English message for the voter.
        retry_after_s: Seconds until a retry can succeed (rate limit), else None.
    """

    def __init__(self, code: str, message_zh: str, message_en: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.retry_after_s = retry_after_s

    def message(self, lang: str = "zh") -> str:
        """The message in `lang` ("zh" or "en")."""
        return self.message_zh if lang.startswith("zh") else self.message_en

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r})"


class VoteRefused(ArenaRefusal):
    """`record_vote` did not store the vote; `code` says why (see `arena.votes.REFUSAL_CODES`)."""


class RevealRefused(ArenaRefusal):
    """`reveal` will not name the models (unknown battle, another session's, or not voted yet)."""


class NoBattleAvailable(Exception):
    """No two models have answered a common prompt yet (run `evals arena generate`)."""
