"""Arena: question bank, answer generation, matchmaking, battles, votes, ratings.

The vote page needs four calls:

    from arena import serve_battle, record_vote, reveal, VoteRefused
    view = serve_battle(db, session_id)                  # prompt + answers A/B, no names
    try:
        result = record_vote(db, view.battle_id, session_id, "a", voter_id)
    except VoteRefused as no:
        show(no.message_zh)                              # or no.code / no.message_en
    model_a, model_b = reveal(db, view.battle_id, session_id)   # only after the vote

Names are imported lazily (PEP 562), so `import arena` stays cheap: `evals arena ratings`
never loads SQLAlchemy and nothing here loads torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # question bank
    "CATEGORIES": "arena.bank",
    "BankError": "arena.bank",
    "ImportReport": "arena.bank",
    "import_bank": "arena.bank",
    "import_starter_bank": "arena.bank",
    "normalize_text": "arena.bank",
    "read_bank": "arena.bank",
    "starter_bank_path": "arena.bank",
    # answers
    "AnswerReport": "arena.answers",
    "DEFAULT_PARAMS": "arena.answers",
    "SYSTEM_PROMPT": "arena.answers",
    "generate_answers": "arena.answers",
    # battles
    "BattleView": "arena.battles",
    "battle_records": "arena.battles",
    "reveal": "arena.battles",
    "serve_battle": "arena.battles",
    # votes
    "OUTCOMES": "arena.votes",
    "VoteLimits": "arena.votes",
    "VoteResult": "arena.votes",
    "VoteStats": "arena.votes",
    "normalize_outcome": "arena.votes",
    "record_vote": "arena.votes",
    "vote_stats": "arena.votes",
    # errors
    "ArenaRefusal": "arena.errors",
    "NoBattleAvailable": "arena.errors",
    "RevealRefused": "arena.errors",
    "VoteRefused": "arena.errors",
    # identity leaks
    "LeakChecker": "arena.leaks",
    "load_checker": "arena.leaks",
    # matchmaking
    "choose_pair": "arena.matchmaking",
    "pair_probabilities": "arena.matchmaking",
    # ratings (arena.ratings, arena.battle_log)
    "Battles": "arena.battle_log",
    "BattleLogError": "arena.battle_log",
    "read_battle_log": "arena.battle_log",
    "write_battle_log": "arena.battle_log",
    "RatingParams": "arena.ratings",
    "Ratings": "arena.ratings",
    "compute_ratings": "arena.ratings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'arena' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # cache: the next access skips this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # static checkers see plain imports; `X as X` marks a re-export
    from arena.answers import DEFAULT_PARAMS as DEFAULT_PARAMS
    from arena.answers import SYSTEM_PROMPT as SYSTEM_PROMPT
    from arena.answers import AnswerReport as AnswerReport
    from arena.answers import generate_answers as generate_answers
    from arena.bank import CATEGORIES as CATEGORIES
    from arena.bank import BankError as BankError
    from arena.bank import ImportReport as ImportReport
    from arena.bank import import_bank as import_bank
    from arena.bank import import_starter_bank as import_starter_bank
    from arena.bank import normalize_text as normalize_text
    from arena.bank import read_bank as read_bank
    from arena.bank import starter_bank_path as starter_bank_path
    from arena.battle_log import BattleLogError as BattleLogError
    from arena.battle_log import Battles as Battles
    from arena.battle_log import read_battle_log as read_battle_log
    from arena.battle_log import write_battle_log as write_battle_log
    from arena.battles import BattleView as BattleView
    from arena.battles import battle_records as battle_records
    from arena.battles import reveal as reveal
    from arena.battles import serve_battle as serve_battle
    from arena.errors import ArenaRefusal as ArenaRefusal
    from arena.errors import NoBattleAvailable as NoBattleAvailable
    from arena.errors import RevealRefused as RevealRefused
    from arena.errors import VoteRefused as VoteRefused
    from arena.leaks import LeakChecker as LeakChecker
    from arena.leaks import load_checker as load_checker
    from arena.matchmaking import choose_pair as choose_pair
    from arena.matchmaking import pair_probabilities as pair_probabilities
    from arena.ratings import RatingParams as RatingParams
    from arena.ratings import Ratings as Ratings
    from arena.ratings import compute_ratings as compute_ratings
    from arena.votes import OUTCOMES as OUTCOMES
    from arena.votes import VoteLimits as VoteLimits
    from arena.votes import VoteResult as VoteResult
    from arena.votes import VoteStats as VoteStats
    from arena.votes import normalize_outcome as normalize_outcome
    from arena.votes import record_vote as record_vote
    from arena.votes import vote_stats as vote_stats
