"""A sweep's job matrix: (model, suite, setting) jobs, each one engine run identified by its run hash.

A job is exactly what one `evals run --suite S --model M [--shots K]` would run, so a sweep and the same
commands typed one by one name the same runs and store the same rows. What is already stored decides a
job's status (done / partial / new), which is how a killed sweep resumes: finished runs are skipped and
unfinished ones continue item by item inside the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.model_spec import ModelSpec
from evals.registry import get_suite
from evals.suite_api import SuiteOptions

if TYPE_CHECKING:
    from db import Database

NO_SHOTS = "-"  # the setting of a suite that has no few-shot exemplars (ppl)
CHARS_PER_TOKEN = 1.5  # rough Chinese/English mix, used only when the model's tokenizer cannot be read


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """What every job of a sweep shares (none of it but dtype enters the run identity)."""

    backend: str = "hf"
    dtype: str = "auto"
    batch_size: int = 8


@dataclass(frozen=True, slots=True)
class SweepJob:
    """One cell of the matrix; picklable, so a Ray worker gets it as it is."""

    model: ModelSpec
    suite: str
    opts: SuiteOptions
    setting: str  # "0-shot", "5-shot" or NO_SHOTS

    @property
    def label(self) -> str:
        return f"{self.model.name} · {self.suite} · {self.setting}"


@dataclass(frozen=True, slots=True)
class JobState:
    """A job as the database sees it before the sweep runs it."""

    job: SweepJob
    run_id: str
    n_items: int
    stored: int  # item rows already stored under the run hash
    status: str  # done | partial | new
    est_tokens: int  # estimated prompt tokens of the items still to compute
    tokens_exact: bool  # counted with the model's tokenizer (else estimated from characters)


def parse_shots(value: str) -> tuple[int, ...]:
    """`--shots 0,5` -> (0, 5); a one-line user error for anything else."""
    out: list[int] = []
    for part in (p.strip() for p in value.split(",")):
        if not part.isdigit():
            raise UserError(f"--shots takes non-negative integers separated by commas (e.g. 0,5), got {value!r}")
        if int(part) not in out:
            out.append(int(part))
    if not out:
        raise UserError("--shots needs at least one value (e.g. 0 or 0,5)")
    return tuple(out)


def expand_jobs(
    models: Sequence[ModelSpec],
    suites: Sequence[str],
    shots: Sequence[int],
    *,
    data: Mapping[str, Path] | None = None,
    limit: int | None = None,
) -> list[SweepJob]:
    """The job matrix in model-major order (the local executor loads each model once).

    Shots apply to multiple-choice suites; other suites get one setting. A suite made of other suites
    (quant) has no items of its own and is refused: sweep its parts instead.
    """
    if not models or not suites:
        raise UserError("a sweep needs at least one model (--models) and one suite (--suites)")
    data = dict(data or {})
    unknown = sorted(set(data) - set(suites))
    if unknown:
        raise UserError(f"--data names suite {unknown[0]!r}, which is not in --suites")
    caps = {}
    for name in suites:
        caps[name] = get_suite(name).capabilities  # unknown suite -> one line listing the known ones
        if caps[name].composite:
            raise UserError(f"suite {name} runs other suites; sweep its parts instead (e.g. --suites ppl,ceval)")
        if name in data and not data[name].exists():
            raise UserError(f"--data for {name}: {data[name]} does not exist")
    jobs: list[SweepJob] = []
    for model in models:
        for name in suites:
            base = SuiteOptions(data=data.get(name), limit=limit)
            if caps[name].multiple_choice:
                jobs += [SweepJob(model, name, replace(base, shots=k), f"{k}-shot") for k in shots]
            else:
                jobs.append(SweepJob(model, name, base, NO_SHOTS))
    return jobs


def inspect_jobs(jobs: Sequence[SweepJob], database: Database, settings: SweepSettings) -> list[JobState]:
    """Plan every job (validating its data before anything runs) and read its state from the database."""
    from db import repo
    from evals.engine import run_config

    states: list[JobState] = []
    tokenizers: dict[str, Any] = {}
    for job in jobs:
        suite = get_suite(job.suite)
        plan = suite.plan(job.opts)
        if not plan.items:
            raise UserError(f"{job.label}: no items to evaluate in the data (check --data and --limit)")
        cfg = run_config(job.suite, plan, job.opts, job.model, backend=settings.backend, dtype=settings.dtype,
                         quant="none")  # fmt: skip
        run_id = cfg.run_hash()
        with database.session() as s:
            run = repo.get_run(s, run_id)
            done = repo.done_item_ids(s, run_id) if run is not None else set()
            finished = run is not None and run.status == "finished"
        keys = {it.key for it in plan.items}
        stored = len(done & keys)
        status = "done" if finished and stored == len(keys) else "partial" if run is not None or stored else "new"
        todo = [it for it in plan.items if it.key not in done]
        if job.model.name not in tokenizers:
            tokenizers[job.model.name] = _tokenizer(job.model)
        count = tokenizers[job.model.name]
        texts = [suite.prompt_text(plan, it) for it in todo]
        tokens = sum(count(t) for t in texts) if count else round(sum(map(len, texts)) / CHARS_PER_TOKEN)
        states.append(JobState(job, run_id, len(keys), stored, status, tokens, count is not None))
    return states


def _tokenizer(model: ModelSpec) -> Any:
    """`text -> token count` with the model's own tokenizer when it is a local checkpoint dir, else None."""
    path = Path(model.path)
    if model.backend != "hf" or not (path / "tokenizer_config.json").is_file():
        return None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(path))
    except Exception:  # an estimate only: an unreadable tokenizer falls back to characters
        return None
    return lambda text: len(tok(text, add_special_tokens=True)["input_ids"])
