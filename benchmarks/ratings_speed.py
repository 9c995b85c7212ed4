"""Arena ratings speed: `evals arena ratings --import` end to end vs. per-round references and arena-rank.

Generates synthetic clean-battle JSONL logs (30 models, 10 % ties) in a temp dir, then times

* ours, end to end: ``python -m evals.cli arena ratings --import FILE --bootstrap 1000`` as a
  subprocess (interpreter start, CLI import, reading the file, online Elo, BT + bootstrap,
  table, ``--json``), best and median of ``--repeat`` runs; plus an in-process breakdown;
* reference A, "per-round resample": pandas ``read_json``, an online-Elo loop over
  ``itertuples``, and per bootstrap round ``DataFrame.sample(replace=True)`` -> group counts ->
  BT fit with scipy L-BFGS (the shape of FastChat's original notebook code);
* reference B, "per-round fit": the same load and Elo, but rounds drawn as multinomial cell
  weights once, then one L-BFGS fit per round (the shape of FastChat's current code, without
  its process pool).

Both references are written here from the formulas, not copied. They run ``--ref-rounds``
(default 100) rounds, ours 1000.

Side by side with LMArena's own package (``--arena-rank PYTHON``, the interpreter of a venv
with ``arena-rank`` installed; default ``.venv-ar/bin/python`` when it exists), on the same
file, each end to end in a fresh interpreter (read the JSONL, build the dataset, fit, CIs):

* sandwich CIs: ours ``--ci sandwich`` vs ``BradleyTerry.compute_ratings_and_cis(ci_method="sandwich")``;
* style control (a second log with FastChat ``conv_metadata`` and a length effect): ours
  ``--style-control`` vs ``ContextualBradleyTerry`` on the four (a-b)/(a+b) features, with the
  same effective L2 (ours 1.0 on the summed log-likelihood = 1/N on arena-rank's mean loss).

Run::

    PYTHONPATH=. python benchmarks/ratings_speed.py [--sizes 100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALE, BASE, INIT, K = 400.0, 10.0, 1000.0, 4.0


def make_style_log(path: Path, n: int, n_models: int = 30, seed: int = 1) -> None:
    """n battles with FastChat conv_metadata; the longer answer is favoured (logit += 3 (La-Lb)/(La+Lb))."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i:02d}" for i in range(n_models)]
    r = rng.normal(0.0, 0.5, n_models)
    verbosity = rng.normal(0.0, 0.5, n_models)
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models
    la = np.exp(6 + verbosity[a] + 0.3 * rng.normal(size=n)).astype(int) + 1
    lb = np.exp(6 + verbosity[b] + 0.3 * rng.normal(size=n)).astype(int) + 1
    logit = r[a] - r[b] + 3.0 * (la - lb) / (la + lb)
    u, t = rng.random(n), rng.random(n) < 0.1
    winner = np.where(t, "tie", np.where(u < 1 / (1 + np.exp(-logit)), "model_a", "model_b"))
    h, bo, li = (rng.poisson(1.0, size=(n, 2)) for _ in range(3))
    with path.open("w") as f:
        for k in range(n):
            f.write(
                f'{{"model_a": "{names[a[k]]}", "model_b": "{names[b[k]]}", "winner": "{winner[k]}", '
                f'"tstamp": {1.7e9 + k * 0.37!r}, "conv_metadata": {{'
                f'"sum_assistant_a_tokens": {la[k]}, "sum_assistant_b_tokens": {lb[k]}, '
                f'"header_count_a": {{"h1": {h[k, 0]}, "h2": 0}}, "header_count_b": {{"h1": {h[k, 1]}, "h2": 0}}, '
                f'"list_count_a": {{"ordered": {li[k, 0]}, "unordered": 0}}, '
                f'"list_count_b": {{"ordered": {li[k, 1]}, "unordered": 0}}, '
                f'"bold_count_a": {{"**": {bo[k, 0]}, "__": 0}}, "bold_count_b": {{"**": {bo[k, 1]}, "__": 0}}}}}}\n'
            )


def make_log(path: Path, n: int, n_models: int = 30, tie_rate: float = 0.1, seed: int = 0) -> None:
    """Write n synthetic battles as clean-battle JSONL (BT model, ratings ~ N(1000, 200))."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i:02d}" for i in range(n_models)]
    r = rng.normal(1000.0, 200.0, n_models)
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models
    p_a = 1.0 / (1.0 + BASE ** ((r[b] - r[a]) / SCALE))
    u, t, bb = rng.random(n), rng.random(n) < tie_rate, rng.random(n) < 0.5
    winner = np.where(t, np.where(bb, "tie (bothbad)", "tie"), np.where(u < p_a, "model_a", "model_b"))
    ts = 1.7e9 + np.arange(n) * 0.37
    with path.open("w") as f:
        for i in range(0, n, 100_000):
            f.writelines(
                f'{{"model_a": "{names[x]}", "model_b": "{names[y]}", "winner": "{w}", "tstamp": {s!r}}}\n'
                for x, y, w, s in zip(
                    a[i : i + 100_000], b[i : i + 100_000], winner[i : i + 100_000], ts[i : i + 100_000].tolist()
                )
            )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# ---------------------------------------------------------------- ours


def ours_cli(path: Path, rounds: int, repeat: int, extra: tuple[str, ...] | None = None) -> list[tuple[float, float]]:
    """(wall s, CPU s of the child) per run of the real CLI in a fresh interpreter.

    `extra` replaces the default ``--bootstrap ROUNDS`` (e.g. ``("--ci", "sandwich")``).
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "evals.cli", "arena", "ratings", "--import", str(path)]
        cmd += list(extra) if extra is not None else ["--bootstrap", str(rounds)]
        cmd += ["--json", str(Path(tmp) / "r.json")]
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            runs.append((wall, cpu))
    return runs


def ours_breakdown(path: Path, rounds: int) -> dict[str, float]:
    from arena.battle_log import A_WINS, B_WINS, read_battle_log
    from arena.ratings import RatingParams, bootstrap_bt, compute_ratings, fit_bt, online_elo, pair_counts

    out: dict[str, float] = {}
    out["read"], battles = timed(lambda: read_battle_log(path))
    order = np.argsort(battles.tstamp, kind="stable")
    o = battles.outcome[order]
    s = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    out["elo"], _ = timed(lambda: online_elo(battles.model_a[order], battles.model_b[order], s, len(battles.models)))
    out["counts"], (w, t) = timed(lambda: pair_counts(battles))
    out["bt"], _ = timed(lambda: fit_bt(w + 0.5 * t, ridge=0.0))
    out[f"bootstrap x{rounds}"], _ = timed(lambda: bootstrap_bt(w, t, rounds, np.random.default_rng(0)))
    out["compute_ratings"], res = timed(lambda: compute_ratings(battles, RatingParams(n_bootstrap=rounds)))
    out["_bt_ratings"] = dict(zip(res.models, res.bt))  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------- references


def _ref_fit(ia: np.ndarray, ib: np.ndarray, score: np.ndarray, weight: np.ndarray, m: int) -> np.ndarray:
    """BT by L-BFGS on the weighted logistic loss of unique (a, b, outcome) rows; mean 1000."""
    from scipy.optimize import minimize

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[ia] - theta[ib]
        p = 1.0 / (1.0 + np.exp(-z))
        nll = -(weight * (score * np.log(p) + (1 - score) * np.log1p(-p))).sum()
        g = weight * (p - score)
        grad = np.bincount(ia, g, m) - np.bincount(ib, g, m)
        return float(nll), grad

    theta = minimize(loss, np.zeros(m), jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "maxiter": 1000}).x
    return SCALE / np.log(BASE) * (theta - theta.mean()) + INIT


def _ref_load_and_elo(path: Path) -> tuple[Any, dict[str, float]]:
    import pandas as pd

    times: dict[str, float] = {}
    times["read (pandas)"], df = timed(lambda: pd.read_json(path, lines=True))
    df = df.sort_values("tstamp", kind="stable")

    def elo() -> dict[str, float]:
        rating: dict[str, float] = {}
        for a, b, w in df[["model_a", "model_b", "winner"]].itertuples(index=False, name=None):
            ra, rb = rating.setdefault(a, INIT), rating.setdefault(b, INIT)
            ea = 1 / (1 + BASE ** ((rb - ra) / SCALE))
            eb = 1 / (1 + BASE ** ((ra - rb) / SCALE))
            sa = 1.0 if w == "model_a" else 0.0 if w == "model_b" else 0.5
            rating[a] = ra + K * (sa - ea)
            rating[b] = rb + K * (1 - sa - eb)
        return rating

    times["elo (itertuples)"], _ = timed(elo)
    return df, times


def _ref_cells(df: Any, models: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    idx = {x: i for i, x in enumerate(models)}
    g = df.groupby(["model_a", "model_b", "winner"], sort=False).size()
    a = np.array([idx[x] for x in g.index.get_level_values(0)])
    b = np.array([idx[x] for x in g.index.get_level_values(1)])
    w = g.index.get_level_values(2)
    score = np.where(w == "model_a", 1.0, np.where(w == "model_b", 0.0, 0.5))
    return a, b, score, g.to_numpy(np.float64)


def reference_resample(path: Path, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    df, times = _ref_load_and_elo(path)
    models = sorted(set(df.model_a) | set(df.model_b))

    def point() -> np.ndarray:
        return _ref_fit(*_ref_cells(df, models), len(models))

    times["bt"], bt = timed(point)

    def boot() -> np.ndarray:
        rng = np.random.default_rng(0)
        out = []
        for _ in range(rounds):
            sample = df.sample(frac=1.0, replace=True, random_state=rng)
            out.append(_ref_fit(*_ref_cells(sample, models), len(models)))
        return np.quantile(np.array(out), [0.025, 0.975], axis=0)

    times[f"bootstrap x{rounds}"], _ = timed(boot)
    return times, dict(zip(models, bt))


def reference_per_round_fit(path: Path, rounds: int) -> dict[str, float]:
    df, times = _ref_load_and_elo(path)
    models = sorted(set(df.model_a) | set(df.model_b))

    def boot() -> np.ndarray:
        a, b, score, count = _ref_cells(df, models)
        rng = np.random.default_rng(0)
        draws = rng.multinomial(len(df), count / count.sum(), size=rounds)
        return np.quantile(
            np.array([_ref_fit(a, b, score, d.astype(float), len(models)) for d in draws]), [0.025, 0.975], axis=0
        )

    times[f"bt + bootstrap x{rounds}"], _ = timed(boot)
    return times


# ---------------------------------------------------------------- arena-rank, side by side

_AR_CODE = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from arena_rank.models.bradley_terry import BradleyTerry
from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
from arena_rank.utils.data_utils import ContextualPairDataset, PairDataset
path, mode = sys.argv[1], sys.argv[2]
df = pd.read_json(path, lines=True)
if mode == "sandwich":
    ds = PairDataset.from_pandas(df)
    res = BradleyTerry(n_competitors=len(ds.competitors)).compute_ratings_and_cis(ds, ci_method="sandwich")
else:
    meta = pd.json_normalize(df["conv_metadata"])
    cols = []
    for name, prefix in (("length", "sum_assistant_{}_tokens"), ("headers", "header_count_{}."),
                         ("bold", "bold_count_{}."), ("lists", "list_count_{}.")):
        side = [meta[[c for c in meta.columns if c.startswith(prefix.format(s))]].sum(axis=1).to_numpy(float)
                for s in "ab"]
        tot = side[0] + side[1]
        df[name] = np.where(tot > 0, (side[0] - side[1]) / np.where(tot > 0, tot, 1), 0.0)
        cols.append(name)
    ds = ContextualPairDataset.from_pandas(df, feature_cols=cols, reweighted=False)
    model = ContextualBradleyTerry(n_competitors=len(ds.competitors), n_features=4, reg=1.0 / len(df))
    res = model.compute_ratings_and_cis(ds, ci_method="sandwich")
ratings = {c: float(r) for c, r in zip(res["competitors"], np.asarray(res["ratings"]))}
print(json.dumps({"wall": time.perf_counter() - t0, "ratings": ratings}))
"""


def arena_rank_run(python: str, path: Path, mode: str) -> tuple[float, dict[str, float]]:
    """arena-rank end to end in a fresh interpreter: (wall s including start-up, ratings)."""
    t = time.perf_counter()
    out = subprocess.run([python, "-c", _AR_CODE, str(path), mode], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, doc["ratings"]


def ours_ratings(path: Path, extra: tuple[str, ...]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "evals.cli", "arena", "ratings", "--import", str(path), *extra, "--json", str(out)]
        subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        return {m: r["rating"] for m, r in json.loads(out.read_text())["models"].items()}


def side_by_side(path: Path, style_path: Path | None, python: str, repeat: int) -> None:
    for label, file, mode, extra in (
        ("sandwich CIs", path, "sandwich", ("--ci", "sandwich")),
        ("style control + sandwich", style_path, "style", ("--style-control",)),
    ):
        if file is None:
            continue
        runs = ours_cli(file, 0, repeat, extra)
        ours = min(w for w, _ in runs)
        theirs, ratings = arena_rank_run(python, file, mode)
        diff = max(abs(ours_ratings(file, extra)[m] - r) for m, r in ratings.items())
        print(
            f"{label}: ours CLI best {ours:.2f} s (CPU {min(c for _, c in runs):.2f} s), arena-rank {theirs:.2f} s "
            f"(one run) -> arena-rank / ours = {theirs / ours:.1f}x; max |rating diff| {diff:.4f} points "
            f"(load {os.getloadavg()[0]:.1f})"
        )


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated battle counts")
    ap.add_argument("--rounds", type=int, default=1000, help="our bootstrap rounds")
    ap.add_argument("--ref-rounds", type=int, default=100, help="reference bootstrap rounds")
    ap.add_argument("--repeat", type=int, default=3, help="end-to-end runs of our CLI per size")
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) references")
    default_ar = ROOT / ".venv-ar" / "bin" / "python"
    ap.add_argument(
        "--arena-rank",
        default=str(default_ar) if default_ar.exists() else None,
        metavar="PYTHON",
        help="interpreter with arena-rank installed (side-by-side runs); default .venv-ar/bin/python if present",
    )
    ap.add_argument("--no-style", action="store_true", help="skip the style-control log")
    args = ap.parse_args()

    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            run_size(Path(tmp) / f"battles_{n}.jsonl", n, args)


def run_size(path: Path, n: int, args: argparse.Namespace) -> None:
    gen_s, _ = timed(lambda: make_log(path, n))
    mib = path.stat().st_size / 2**20
    print(f"\n== {n:,} battles, 30 models, 10% ties ({mib:.0f} MiB JSONL, generated in {gen_s:.1f} s)")

    cli = ours_cli(path, args.rounds, args.repeat)
    walls = [w for w, _ in cli]
    print(
        f"ours  CLI end to end, {args.rounds} rounds: wall best {min(walls):.2f} s, "
        f"median {statistics.median(walls):.2f} s; CPU best {min(c for _, c in cli):.2f} s "
        f"(runs: {', '.join(f'{w:.2f}/{c:.2f}' for w, c in cli)} wall/CPU; load {os.getloadavg()[0]:.1f})"
    )
    sandwich = ours_cli(path, 0, args.repeat, ("--ci", "sandwich"))
    print(
        f"ours  CLI end to end, sandwich CIs: wall best {min(w for w, _ in sandwich):.2f} s, CPU best "
        f"{min(c for _, c in sandwich):.2f} s (vs {min(walls):.2f} s / {min(c for _, c in cli):.2f} s with "
        f"{args.rounds} bootstrap rounds)"
    )
    style_path = None
    if not args.no_style:
        style_path = path.with_name(f"style_{n}.jsonl")
        gen_s, _ = timed(lambda: make_style_log(style_path, n))
        mib = style_path.stat().st_size / 2**20
        styled = ours_cli(style_path, 0, args.repeat, ("--style-control",))
        print(
            f"ours  CLI end to end, --style-control (sandwich) on {n:,} battles with conv_metadata ({mib:.0f} MiB): "
            f"wall best {min(w for w, _ in styled):.2f} s, CPU best {min(c for _, c in styled):.2f} s "
            f"(runs: {', '.join(f'{w:.2f}/{c:.2f}' for w, c in styled)} wall/CPU; load {os.getloadavg()[0]:.1f})"
        )
    if args.arena_rank:
        side_by_side(path, style_path, args.arena_rank, args.repeat)
    parts = ours_breakdown(path, args.rounds)
    ours_bt = parts.pop("_bt_ratings")
    print("ours  in-process: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    if args.no_reference:
        return

    ref_a, ref_bt = reference_resample(path, args.ref_rounds)
    total_a = sum(ref_a.values())
    detail = ", ".join(f"{k} {v:.2f} s" for k, v in ref_a.items())
    print(f"ref A per-round resample, {args.ref_rounds} rounds: total {total_a:.2f} s ({detail})")
    diff = max(abs(ours_bt[x] - ref_bt[x]) for x in ref_bt)  # type: ignore[index]
    print(f"      max |BT ours - BT ref| = {diff:.4f} rating points")
    ref_b = reference_per_round_fit(path, args.ref_rounds)
    total_b = sum(ref_b.values())
    detail = ", ".join(f"{k} {v:.2f} s" for k, v in ref_b.items())
    print(f"ref B per-round fit, {args.ref_rounds} rounds: total {total_b:.2f} s ({detail})")
    best = min(walls)
    print(
        f"ratio: ref A / ours = {total_a / best:.1f}x, ref B / ours = {total_b / best:.1f}x "
        f"(ours with {args.rounds // args.ref_rounds}x the rounds, and interpreter start included)"
    )


if __name__ == "__main__":
    main()
