"""Pure planning helpers: rolling windows and prefix groups (no model)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runners._kv_prefix import common_prefix_len, plan_prefix_groups
from runners.windows import rolling_windows


@given(n=st.integers(0, 300), max_length=st.integers(2, 64), data=st.data())
def test_every_token_after_bos_scored_exactly_once(n: int, max_length: int, data: st.DataObject) -> None:
    stride = data.draw(st.one_of(st.none(), st.integers(1, max_length - 1)))
    windows = rolling_windows(n, max_length, stride)
    scored = [p for _, end, first in windows for p in range(first, end)]
    assert scored == list(range(1, n))  # in order, no gaps, no repeats
    step = max_length - 1 if stride is None else stride
    for k, (start, end, first) in enumerate(windows):
        assert start == k * step and end - start <= max_length and start < first < end
    if n >= 2:
        assert windows[-1][1] == n and all(end < n for _, end, _ in windows[:-1])


def test_rolling_windows_example_and_errors() -> None:
    # N=10, L=4, s=2: [0,4) scores 1-3, [2,6) 4-5, [4,8) 6-7, [6,10) 8-9.
    assert rolling_windows(10, 4, 2) == [(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    assert rolling_windows(1, 4) == []
    with pytest.raises(ValueError, match="stride"):
        rolling_windows(10, 4, 4)
    with pytest.raises(ValueError, match="max_length"):
        rolling_windows(10, 1)


def test_common_prefix_and_groups() -> None:
    a = list(range(20)) + [100, 101]
    b = list(range(20)) + [200]
    c = list(range(5)) + [300]
    assert common_prefix_len([a, b]) == 20 and common_prefix_len([a, a]) == len(a)
    groups, rest = plan_prefix_groups([a, b, c, a[:21], a], ["x", "x", "y", "z", "z"])
    # "x": 20 shared tokens; "y": alone; "z": a[:21] vs a -> 21 shared, capped at len - 1 = 20.
    assert [(len(g.prefix), g.members) for g in groups] == [(20, (0, 1)), (20, (3, 4))]
    assert rest == [2]
    short, rest = plan_prefix_groups([c, c[:4] + [9, 9]], ["s", "s"])
    assert short == [] and rest == [0, 1]  # 4 shared tokens: below the reuse threshold
    groups, rest = plan_prefix_groups([a, b], ["x", "x"], max_total=10)
    assert groups == [] and rest == [0, 1]  # sliding-window limit
