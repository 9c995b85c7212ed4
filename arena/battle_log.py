"""Battle logs in FastChat's clean-battle format: read, validate, write.

A log is a JSON array of objects, or JSONL with one object per line, each with
``model_a``, ``model_b``, ``winner`` (one of :data:`OUTCOMES`) and usually ``tstamp``
(seconds since the epoch); any other fields are ignored. :func:`read_battle_log`
turns it into :class:`Battles`, integer arrays that the rating functions in
``arena.ratings`` consume.

Reading 1M battles has to fit in about a second of the 5 s budget of
``evals arena ratings`` (and the 398 MiB of a 1M-battle FastChat log with
``conv_metadata`` in a few seconds), so there are two paths:

* typed (`arena.battle_log_typed`): ``msgspec`` decodes ~1 MiB chunks of the file
  straight into structs of just the fields we read, and the columns are pulled out
  with C-level getters; no dict is built per record;
* generic, for anything the typed path declines (a missing or mistyped field, a blank
  line, an unusual ``conv_metadata``...): JSONL lines are joined into one JSON array
  per chunk of lines (one C-level ``orjson`` call instead of one per line), then
  read from the dicts. Its errors take a slow path that re-reads the offending chunk
  line by line, so every message names the line (JSONL) or index (JSON array).

Both paths accept and reject the same logs with the same results; the typed one only
decides faster. The cyclic GC is paused while millions of objects are allocated
(otherwise each full collection re-walks every object already built).
"""

from __future__ import annotations

import gc
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter, methodcaller
from pathlib import Path
from typing import Any

import numpy as np

from arena import battle_log_typed as typed
from core.textfiles import utf8_bytes

OUTCOMES: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
"""The ``winner`` values, in the order of their integer codes below."""
A_WINS, B_WINS, TIE, TIE_BOTHBAD = 0, 1, 2, 3
_OUTCOME_CODE = {name: code for code, name in enumerate(OUTCOMES)}
_REQUIRED = ("model_a", "model_b", "winner")
# Records parsed and converted per batch: big enough that per-chunk overhead vanishes,
# small enough that only this many dicts are alive at once (a 1M-line log as dicts is ~0.5 GB).
_CHUNK = 10_000
# Bytes per typed JSONL chunk (~2,500 FastChat records with conv_metadata, ~10,000 without): the structs of
# one chunk stay in cache while their columns are read out.
_CHUNK_BYTES = 1 << 20


class BattleLogError(ValueError):
    """A malformed battle log; the message names the file and the line or index."""


@dataclass(frozen=True, slots=True, eq=False)
class Battles:
    """Battles as integer arrays, in log order.

    Attributes:
        models: Model names; the codes in ``model_a``/``model_b`` index this tuple.
        model_a: (N,) int32 code of the first model of each battle.
        model_b: (N,) int32 code of the second model.
        outcome: (N,) int8 outcome code: ``A_WINS``, ``B_WINS``, ``TIE`` or ``TIE_BOTHBAD``.
        tstamp: (N,) float64 timestamps, or None when the log has none (log order is then
            taken as time order).
        style: (N, 8) float64 style counts (tokens, headers, bold, list items of answer a, then
            of answer b; see `arena.ratings_style`), or None when not read.
        category: (N,) object array of category strings ("" when a battle has none), or None.
        flags: (N,) object array of comma-joined vote flags ("" when none; see
            `arena.vote_hygiene`), or None when not read.
    """

    models: tuple[str, ...]
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    tstamp: np.ndarray | None = None
    style: np.ndarray | None = None
    category: np.ndarray | None = None
    flags: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.model_a.shape[0])

    def select(self, keep: np.ndarray) -> Battles:
        """The battles where `keep` (bool mask) is True; models that no longer play are dropped."""
        a, b = self.model_a[keep], self.model_b[keep]
        used = np.zeros(len(self.models), bool)
        used[a] = True
        used[b] = True
        remap = np.cumsum(used) - 1
        return Battles(
            models=tuple(n for n, u in zip(self.models, used) if u),
            model_a=remap[a].astype(np.int32),
            model_b=remap[b].astype(np.int32),
            outcome=self.outcome[keep],
            tstamp=None if self.tstamp is None else self.tstamp[keep],
            style=None if self.style is None else self.style[keep],
            category=None if self.category is None else self.category[keep],
            flags=None if self.flags is None else self.flags[keep],
        )

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], *, style: bool = False, category: bool = False, flags: bool = False
    ) -> Battles:
        """Build battles from clean-battle dicts (e.g. rows read from the DB or a test).

        Args:
            records: Mappings with ``model_a``, ``model_b``, ``winner`` and optionally
                ``tstamp`` (taken from every record if the first one has it).
            style: Also read every record's FastChat ``conv_metadata`` into ``style``.
            category: Also read every record's ``category`` (a string; absent = "").
            flags: Also read every record's ``flags`` (a list of strings; absent = none).

        Returns:
            The battles; models are sorted by name.

        Raises:
            BattleLogError: A record is malformed; the message names its index.
        """
        builder = _Builder(style=style, category=category, flags=flags)
        builder.add(list(records), lambda i: f"battle at index {i}")
        return builder.build()

    def to_records(self) -> list[dict[str, Any]]:
        """The battles as clean-battle dicts, in log order."""
        names = self.models
        out: list[dict[str, Any]] = []
        ts = self.tstamp.tolist() if self.tstamp is not None else None
        for k, (a, b, o) in enumerate(zip(self.model_a.tolist(), self.model_b.tolist(), self.outcome.tolist())):
            rec: dict[str, Any] = {"model_a": names[a], "model_b": names[b], "winner": OUTCOMES[o]}
            if ts is not None:
                rec["tstamp"] = ts[k]
            out.append(rec)
        return out


def read_battle_log(path: str | Path, *, style: bool = False, category: bool = False, flags: bool = False) -> Battles:
    """Read a clean-battle log: a JSON array of battle objects, or JSONL of the same.

    The format is detected from the first non-blank character (``[`` = JSON array).

    Args:
        path: The log file (UTF-8).
        style: Also read FastChat's ``conv_metadata`` of every battle (for style control).
        category: Also read each battle's ``category`` string.
        flags: Also read each battle's ``flags`` (list of vote flags, as `evals arena export` writes).

    Returns:
        The battles in file order.

    Raises:
        BattleLogError: The file is empty, not valid JSON/JSONL, or a record is malformed
            (missing field, ``winner`` outside :data:`OUTCOMES`, ``model_a == model_b``,
            non-string model name, non-numeric ``tstamp``); the message names the line
            or index.
        OSError: The file cannot be read.
    """
    path = Path(path)
    data = utf8_bytes(path.read_bytes(), path)  # GBK/GB18030 logs re-encoded (with a note); binary refused
    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 BOM, as some Windows tools write it
        data = data[3:]
    head = data.lstrip()[:1]
    if not head:
        raise BattleLogError(f"{path}: empty battle log")
    builder = _Builder(style=style, category=category, flags=flags)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if head == b"[":
            if not _read_typed_array(data, builder):
                builder = _Builder(style=style, category=category, flags=flags)
                records = _parse_json_array(data, path)
                for start in range(0, len(records), _CHUNK):
                    builder.add(records[start : start + _CHUNK], _at_index(path, start))
        else:
            _read_jsonl(data, path, builder)
    finally:
        if gc_was_enabled:
            gc.enable()
    if builder.n == 0:
        raise BattleLogError(f"{path}: no battles in the log")
    return builder.build()


def write_battle_log(battles: Battles, path: str | Path) -> None:
    """Write battles as clean-battle JSONL (``.jsonl``) or a JSON array (any other suffix).

    Args:
        battles: The battles to write, in their order.
        path: Destination file; overwritten.
    """
    path = Path(path)
    records = battles.to_records()
    with path.open("w", encoding="utf-8") as f:
        if path.suffix == ".jsonl":
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            json.dump(records, f, ensure_ascii=False, indent=1)
            f.write("\n")


# ---------------------------------------------------------------- parsing


def _loads() -> tuple[Callable[[bytes], Any], type[Exception]]:
    try:
        import orjson  # optional: ~2x faster than the stdlib parser on large logs

        return orjson.loads, orjson.JSONDecodeError
    except ImportError:
        return json.loads, json.JSONDecodeError


def _parse_json_array(data: bytes, path: Path) -> list[Any]:
    loads, decode_error = _loads()
    try:
        records = loads(data)
    except (decode_error, UnicodeDecodeError) as exc:
        raise BattleLogError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(records, list):
        raise BattleLogError(f"{path}: expected a JSON array of battle objects")
    return records


def _read_jsonl(data: bytes, path: Path, builder: _Builder) -> None:
    """Feed a JSONL log to `builder`, ~`_CHUNK_BYTES` of whole lines at a time: typed when the chunk
    allows it, else through the generic dict path (which also names the line of any error)."""
    end = len(data)  # drop trailing blank lines as the generic path does (data.rstrip() would copy the file)
    while end > 0 and not data[data.rfind(b"\n", 0, end) + 1 : end].strip():
        end = max(data.rfind(b"\n", 0, end), 0)
    decoder = typed.array_decoder(builder.want_style)
    pos, first_line = 0, 1
    while pos < end:
        stop = data.find(b"\n", min(pos + _CHUNK_BYTES, end), end)
        chunk = data[pos : end if stop < 0 else stop]  # whole lines, without the last newline
        # The chunk as one JSON array, with a comma before every newline: that parses only if each line
        # holds whole values (a newline inside a string or an object turns into a syntax error, and so
        # does a blank line), and exactly one per line if there are as many values as lines.
        commas = chunk.replace(b"\n", b",\n")
        lines = len(commas) - len(chunk) + 1  # (cheaper than chunk.count)
        try:
            records = decoder.decode(b"".join((b"[", commas, b"]")))
        except typed.DecodeError:
            records = None
        del commas
        if records is None or len(records) != lines or not builder.add_typed(records):
            for objs, line_of in _parse_jsonl_chunks(chunk, path, first_line):
                builder.add(objs, _at_line(path, line_of))
        pos, first_line = pos + len(chunk) + 1, first_line + lines


def _read_typed_array(data: bytes, builder: _Builder) -> bool:
    """Feed a JSON array log to `builder` through the typed path; False (builder half-fed, to be
    discarded) when the log needs the generic path."""
    try:
        records = typed.array_decoder(builder.want_style).decode(data)
    except typed.DecodeError:
        return False
    return all(builder.add_typed(records[start : start + _CHUNK]) for start in range(0, len(records), _CHUNK))


def _parse_jsonl_chunks(
    data: bytes, path: Path, first_line: int = 1
) -> Iterator[tuple[list[Any], Callable[[int], int]]]:
    """Yield (objects, record index -> 1-based line number) per chunk of lines; `data` starts at line
    `first_line` of the file."""
    loads, decode_error = _loads()
    lines = data.split(b"\n")
    while lines and not lines[-1].strip():  # trailing newline(s); not data.rstrip(), which copies the file
        lines.pop()
    for start in range(0, len(lines), _CHUNK):
        chunk = lines[start : start + _CHUNK]
        line0 = first_line + start
        try:
            # One parser call per chunk; a blank line (",,") or a bad line makes it fail
            # and sends the chunk down the line-by-line path below.
            objs = loads(b"[" + b",".join(chunk) + b"]")
            if len(objs) == len(chunk):
                yield objs, _offset(line0)
                continue
        except (decode_error, UnicodeDecodeError):
            pass
        objs = []
        line_nos: list[int] = []
        for k, line in enumerate(chunk):
            if not line.strip():
                continue
            try:
                objs.append(loads(line))
            except (decode_error, UnicodeDecodeError) as exc:
                raise BattleLogError(f"{path}:{line0 + k}: not valid JSON: {exc}") from None
            line_nos.append(line0 + k)
        yield objs, line_nos.__getitem__


def _offset(first: int) -> Callable[[int], int]:
    return lambda i: first + i


def _at_index(path: Path, offset: int) -> Callable[[int], str]:
    return lambda i: f"{path}: battle at index {offset + i}"


def _at_line(path: Path, line_of: Callable[[int], int]) -> Callable[[int], str]:
    return lambda i: f"{path}:{line_of(i)}"


# ---------------------------------------------------------------- validation and encoding


class _Index(dict[str, int]):
    """Name -> code map that gives an unseen name the next code on lookup."""

    def __missing__(self, name: str) -> int:
        code = self[name] = len(self)
        return code


class _Builder:
    """Accumulates validated records as compact integer arrays, chunk by chunk."""

    def __init__(self, *, style: bool = False, category: bool = False, flags: bool = False) -> None:
        self.want_style = style
        self.want_category = category
        self.want_flags = flags
        self.flags: list[str] = []
        self.style: list[np.ndarray] = []
        self.category: list[Any] = []
        self.index = _Index()  # model name -> code, in order of first appearance
        self.a = array("i")
        self.b = array("i")
        self.outcome = array("b")
        self.tstamp = array("d")
        self.has_tstamp: bool | None = None  # decided by the first record
        self.n = 0

    def add(self, objs: Sequence[Any], where: Callable[[int], str]) -> None:
        if not objs:
            return
        if self.has_tstamp is None:
            self.has_tstamp = isinstance(objs[0], Mapping) and "tstamp" in objs[0]
        known = len(self.index)
        try:
            # Fast path: C-level maps over the chunk, no per-record Python code; `_Index`
            # hands out codes to new names. Any problem (missing key, non-object record,
            # unknown winner, unhashable or non-numeric value) lands in the slow path, which
            # finds and names the first bad record.
            a = array("i", map(self.index.__getitem__, map(itemgetter("model_a"), objs)))
            b = array("i", map(self.index.__getitem__, map(itemgetter("model_b"), objs)))
            codes = array("b", map(_OUTCOME_CODE.__getitem__, map(itemgetter("winner"), objs)))
            if self.has_tstamp:
                ts = array("d", map(itemgetter("tstamp"), objs))
            if any(not isinstance(name, str) or not name for name in list(self.index)[known:]):
                raise TypeError
        except (KeyError, TypeError, ValueError):
            raise BattleLogError(_first_problem(objs, where, self.has_tstamp)) from None
        same = np.flatnonzero(np.frombuffer(a, np.int32) == np.frombuffer(b, np.int32))
        if same.size:
            i = int(same[0])
            raise BattleLogError(f"{where(i)}: model_a and model_b are the same model ({objs[i]['model_a']!r})")
        if self.want_style:
            self.style.append(_style_counts(objs, where))
        if self.want_category:
            cats = [rec.get("category") or "" for rec in objs]
            bad = next((i for i, c in enumerate(cats) if not isinstance(c, str)), None)
            if bad is not None:
                raise BattleLogError(f"{where(bad)}: category must be a string, got {cats[bad]!r}")
            self.category.extend(cats)
        if self.want_flags:
            self.flags.extend(_flags(objs, where))
        self.a.extend(a)
        self.b.extend(b)
        self.outcome.extend(codes)
        if self.has_tstamp:
            self.tstamp.extend(ts)
        self.n += len(objs)

    def add_typed(self, records: list[Any]) -> bool:
        """Add typed records (`arena.battle_log_typed`); False, with nothing added, when any of them
        is one the generic `add` would refuse or read differently (the caller then sends it there)."""
        if not records:
            return True
        has_tstamp = self.has_tstamp
        if has_tstamp is None:
            has_tstamp = not typed.is_unset(records[0].tstamp)
        known = len(self.index)
        try:
            a = array("i", map(self.index.__getitem__, map(attrgetter("model_a"), records)))
            b = array("i", map(self.index.__getitem__, map(attrgetter("model_b"), records)))
            codes = array("b", map(_OUTCOME_CODE.__getitem__, map(attrgetter("winner"), records)))
            if has_tstamp:
                ts = array("d", map(attrgetter("tstamp"), records))  # a missing one (UNSET) is a TypeError
            ok = all(list(self.index)[known:])  # no empty model name
            ok = ok and not np.any(np.frombuffer(a, np.int32) == np.frombuffer(b, np.int32))
            if ok and self.want_style:
                style = typed.style_counts(records)
                ok = bool(np.isfinite(style).all())
            if ok and self.want_category:
                cats = [c or "" for c in map(attrgetter("category"), records)]
                ok = all(isinstance(c, str) for c in cats)
            if ok and self.want_flags:
                flags = _typed_flags(records)
                ok = flags is not None
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            for name in list(self.index)[known:]:  # forget the names this chunk introduced
                del self.index[name]
            return False
        self.has_tstamp = has_tstamp
        if self.want_style:
            self.style.append(style)
        if self.want_category:
            self.category.extend(cats)
        if self.want_flags:
            assert flags is not None
            self.flags.extend(flags)
        self.a.extend(a)
        self.b.extend(b)
        self.outcome.extend(codes)
        if has_tstamp:
            self.tstamp.extend(ts)
        self.n += len(records)
        return True

    def build(self) -> Battles:
        if self.n == 0:
            raise BattleLogError("no battles")
        # Codes were handed out in order of appearance; renumber so models sort by name.
        names = sorted(self.index)
        remap = np.empty(len(names), np.int32)
        for new, name in enumerate(names):
            remap[self.index[name]] = new
        tstamp = np.frombuffer(self.tstamp, np.float64).copy() if self.has_tstamp else None
        return Battles(
            models=tuple(names),
            model_a=remap[np.frombuffer(self.a, np.int32)],
            model_b=remap[np.frombuffer(self.b, np.int32)],
            outcome=np.frombuffer(self.outcome, np.int8).copy(),
            tstamp=tstamp,
            style=np.concatenate(self.style) if self.want_style else None,
            category=np.array(self.category, dtype=object) if self.want_category else None,
            flags=np.array(self.flags, dtype=object) if self.want_flags else None,
        )


def _flags(objs: Sequence[Any], where: Callable[[int], str]) -> list[str]:
    values = list(map(methodcaller("get", "flags"), objs))
    if not any(values):  # the common case, at C speed
        return [""] * len(objs)
    out = []
    for i, value in enumerate(values):
        if not value:
            out.append("")
        elif isinstance(value, list) and all(isinstance(f, str) for f in value):
            out.append(",".join(sorted(value)))
        else:
            raise BattleLogError(f"{where(i)}: flags must be a list of strings, got {value!r}")
    return out


def _typed_flags(records: Sequence[Any]) -> list[str] | None:
    """`_flags` for typed records; None where `_flags` would raise."""
    values = list(map(attrgetter("flags"), records))
    if not any(values):
        return [""] * len(records)
    out = []
    for value in values:
        if not value:
            out.append("")
        elif isinstance(value, list) and all(isinstance(f, str) for f in value):
            out.append(",".join(sorted(value)))
        else:
            return None
    return out


_STYLE_KEYS = tuple(
    (f"sum_assistant_{side}_tokens", f"header_count_{side}", f"bold_count_{side}", f"list_count_{side}")
    for side in "ab"
)


def _style_counts(objs: Sequence[Any], where: Callable[[int], str]) -> np.ndarray:
    """(n, 8) style counts from each record's ``conv_metadata``; errors name the record.

    Fast path: C-level maps per field (1M records in about a second); the per-dict sums run
    through builtin `sum` over `dict.values`. Anything odd goes to the slow path below.
    """
    out = np.empty((len(objs), 8))
    try:
        metas = list(map(itemgetter("conv_metadata"), objs))
        col = 0
        for tokens, *dicts in _STYLE_KEYS:
            out[:, col] = np.fromiter(map(itemgetter(tokens), metas), np.float64, len(metas))
            for key in dicts:
                col += 1
                out[:, col] = np.fromiter(
                    map(sum, map(dict.values, map(itemgetter(key), metas))), np.float64, len(metas)
                )
            col += 1
        # (numeric strings and booleans pass as numbers here, a leniency not worth 1 s per 1M records)
        if not np.isfinite(out).all():
            raise ValueError
        return out
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    from arena.ratings_style import metadata_counts

    for i, rec in enumerate(objs):
        meta = rec.get("conv_metadata")
        if not isinstance(meta, Mapping):
            raise BattleLogError(
                f"{where(i)}: no conv_metadata (style control needs FastChat's per-answer token, header, "
                "bold and list counts on every battle)"
            )
        try:
            out[i] = metadata_counts(meta)
        except (KeyError, ValueError, AttributeError, TypeError) as exc:
            raise BattleLogError(f"{where(i)}: bad conv_metadata: {exc}") from None
    return out


def _first_problem(objs: Sequence[Any], where: Callable[[int], str], has_tstamp: bool | None) -> str:
    """Describe the first malformed record (the slow path behind `_Builder.add`)."""
    for i, rec in enumerate(objs):
        if not isinstance(rec, Mapping):
            return f"{where(i)}: expected a JSON object, got {type(rec).__name__}"
        for key in _REQUIRED:
            if key not in rec:
                return f"{where(i)}: missing field {key!r}"
        for key in ("model_a", "model_b"):
            if not isinstance(rec[key], str) or not rec[key]:
                return f"{where(i)}: {key} must be a non-empty string, got {rec[key]!r}"
        if not isinstance(rec["winner"], str) or rec["winner"] not in _OUTCOME_CODE:
            return f"{where(i)}: winner {rec['winner']!r} is not one of {', '.join(OUTCOMES)}"
        if has_tstamp:
            if "tstamp" not in rec:
                return f"{where(i)}: missing field 'tstamp' (the first battle has one, so all must)"
            ts = rec["tstamp"]
            if isinstance(ts, bool) or not isinstance(ts, int | float):
                return f"{where(i)}: tstamp must be a number, got {ts!r}"
    return f"{where(0)}: malformed battle record"  # unreachable unless validation rules diverge
