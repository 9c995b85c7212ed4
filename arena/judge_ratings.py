"""What judge verdicts mean for ratings, and how good a judge is (Arena-Hard-Auto's measures).

* Weighting: a strong verdict (A>>B or B>>A, stored as the vote flag ``strong``) counts as
  `STRONG_WEIGHT` battles in every fit, as Arena-Hard-Auto repeats it; a weak one once, a tie
  as a tie (`repeat_strong`).
* Separability with confidence: the share of model pairs whose rating intervals do not
  overlap (`separability`).
* Pair-rank Brier score: for every model pair rated by both boards, the judge board's BT
  probability that the first model beats the second against 1 or 0, whether the human board
  ranks it above (`pair_rank_brier`); 0 is perfect, 0.25 is a coin flip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from arena.battle_log import Battles
    from arena.ratings_board import Board

STRONG_FLAG = "strong"
STRONG_WEIGHT = 3


def repeat_strong(battles: Battles) -> Battles:
    """The battles with each one flagged ``strong`` repeated `STRONG_WEIGHT` times (in place, in order)."""
    if battles.flags is None or len(battles) == 0 or not battles.flags.any():  # no flags at all: the usual log
        return battles
    # Decide once per distinct flag string (a handful), not once per battle (a million).
    is_strong = {f: STRONG_FLAG in str(f).split(",") for f in set(battles.flags.tolist())}
    strong = np.fromiter(map(is_strong.__getitem__, battles.flags.tolist()), bool, len(battles))
    if not strong.any():
        return battles
    return battles.select(np.repeat(np.arange(len(battles)), np.where(strong, STRONG_WEIGHT, 1)))


def _rated(board: Board) -> dict[str, int]:
    return {name: i for i, name in enumerate(board.models) if not np.isnan(board.rating[i])}


def separability(board: Board) -> tuple[float | None, int]:
    """(share of rated model pairs whose intervals do not overlap, pairs); None without intervals."""
    idx = [i for i in _rated(board).values() if not np.isnan(board.ci_low[i])]
    pairs = [(i, j) for k, i in enumerate(idx) for j in idx[k + 1 :]]
    if not pairs:
        return None, 0
    apart = sum(board.ci_low[i] > board.ci_high[j] or board.ci_low[j] > board.ci_high[i] for i, j in pairs)
    return apart / len(pairs), len(pairs)


def pair_rank_brier(judge: Board, human: Board) -> tuple[float | None, int]:
    """(mean squared error of the judge's pairwise win probabilities against the human ranking, pairs).

    Pairs the human board rates equal are left out (no ranking to predict).
    """
    jr, hr = _rated(judge), _rated(human)
    names = sorted(set(jr) & set(hr))
    p = judge.options.params
    errors = []
    for k, x in enumerate(names):
        for y in names[k + 1 :]:
            h = human.rating[hr[x]] - human.rating[hr[y]]
            if h == 0:
                continue
            diff = judge.rating[jr[x]] - judge.rating[jr[y]]
            prob = 1.0 / (1.0 + p.base ** (-diff / p.scale))
            errors.append((prob - (1.0 if h > 0 else 0.0)) ** 2)
    return (float(np.mean(errors)) if errors else None), len(errors)
