"""Answer generation: each model answers each bank question once per sampling setup.

Answers are generated ahead of time (not live) so a battle loads instantly and every vote is
about a stored, auditable text. The key of an answer is (prompt, model, params_hash), where
`params_hash` covers the sampling parameters, chat mode and system prompt; re-running the same
command skips what is stored (resume), and changed parameters produce new answers next to the
old ones. Each batch is committed as soon as it is generated, so an interrupted run loses at
most one batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runners.base import GenParams

if TYPE_CHECKING:
    from core.model_spec import ModelSpec
    from db import Database
    from db.arena_repo import AnswerRow
    from runners.base import Runner

# The system prompt of the Chinese-LLaMA-Alpaca-2 serving template (PROTOCOLS.md §6.2).
SYSTEM_PROMPT = "You are a helpful assistant. 你是一个乐于助人的助手。"
# Sampling, not greedy: arena answers should look like what users get from a chat deployment.
DEFAULT_PARAMS = GenParams(max_new_tokens=256, temperature=0.7, top_p=0.9, seed=42)

RunnerFactory = Callable[["ModelSpec"], "Runner"]


@dataclass(frozen=True, slots=True)
class AnswerReport:
    """What `generate_answers` did for one model.

    Attributes:
        model: Model name.
        params_hash: Key of the sampling setup the answers are stored under.
        generated: Answers generated and stored now.
        skipped: Prompts that already had an answer under this setup (resume).
    """

    model: str
    params_hash: str
    generated: int
    skipped: int


# dict[str, Any]: a JSON object (GenParams fields + chat, system), hashed and stored as is.
def gen_params_record(params: GenParams, system: str = SYSTEM_PROMPT) -> dict[str, Any]:
    """The JSON stored with every answer: sampling parameters plus chat mode and system prompt."""
    record = asdict(params)
    record["stop"] = list(params.stop)
    if not record["min_new_tokens"]:  # a field added later: unset, it keeps earlier answers' hashes
        del record["min_new_tokens"]
    return {**record, "chat": True, "system": system}


def params_hash(record: dict[str, Any]) -> str:
    """16-hex-digit sha256 of the canonical JSON of a `gen_params_record`."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def generate_answers(
    database: Database,
    model_names: Sequence[str],
    prompt_ids: Sequence[int] | None = None,
    params: GenParams = DEFAULT_PARAMS,
    *,
    category: str | None = None,
    limit: int | None = None,
    runner_factory: RunnerFactory | None = None,
    batch_size: int = 8,
    progress: bool = True,
    on_plan: Callable[[int], None] | None = None,
) -> list[AnswerReport]:
    """Generate and store every missing answer of `model_names` to the selected prompts.

    Each model is loaded once (and not at all when nothing is missing), prompted through its
    chat template with `SYSTEM_PROMPT`, and its answers are committed batch by batch.

    Args:
        database: The arena database (prompts must be imported first).
        model_names: Registered model names or checkpoint directories (a directory is
            registered under its folder name).
        prompt_ids: Prompts to answer; None = all (after `category` and `limit`).
        params: Sampling parameters, recorded with each answer.
        category: Only prompts of this category.
        limit: At most this many prompts (lowest ids first).
        runner_factory: Builds a Runner for a resolved model (tests, other backends);
            default `runners.open_runner(spec)`.
        batch_size: Prompts per generate call (and per commit).
        progress: Show a progress bar per model.
        on_plan: Called with the number of selected prompts once the prompts and models are
            checked, before any model loads (the CLI states the job's size there, so a bad name
            or id is the only line printed).

    Returns:
        One report per model, in the order given.

    Raises:
        UserError: Unknown model or prompt ids, no prompts selected, or a model without a
            chat template.
    """
    from core.errors import UserError
    from core.progress import item_progress
    from db import arena_repo

    if not model_names:
        raise UserError("no models given")
    if len(set(model_names)) != len(model_names):
        raise UserError("a model is listed twice")
    with database.session(write=False) as s:
        prompts = arena_repo.list_prompts(s, ids=prompt_ids, category=category, limit=limit)
    if prompt_ids is not None:
        missing = sorted(set(prompt_ids) - {p.id for p in prompts})
        if missing:
            raise UserError(f"unknown prompt ids: {', '.join(map(str, missing[:10]))}")
    if not prompts:
        raise UserError("no prompts selected; import a bank first (`evals arena bank import --default`)")

    record = gen_params_record(params)
    key = params_hash(record)
    specs = [_resolve(database, name) for name in model_names]  # fail on a bad name before any loading
    if on_plan is not None:
        on_plan(len(prompts))
    reports = []
    for spec, model_id in specs:
        with database.session(write=False) as s:
            done = arena_repo.answered_prompt_ids(s, model_id, key)
        todo = [p for p in prompts if p.id not in done]
        if todo:
            _check_chat_template(spec)
            runner = runner_factory(spec) if runner_factory else open_logged_runner(spec, database)
            if not runner.info.has_chat_template:
                raise UserError(f"model {spec.name} has no chat template; arena answers need a chat model")
            with item_progress(len(todo), f"answers {spec.name}", enabled=progress, unit="answers") as advance:
                for lo in range(0, len(todo), batch_size):
                    batch = todo[lo : lo + batch_size]
                    texts = runner.generate(
                        [p.text for p in batch], params, chat=True, system=SYSTEM_PROMPT, batch_size=batch_size
                    )
                    rows = [_answer_row(p.id, model_id, t, record, key) for p, t in zip(batch, texts, strict=True)]
                    with database.session() as s:
                        arena_repo.add_answers(s, rows)
                    advance(len(batch))
            del runner  # free the weights before loading the next model
        reports.append(AnswerReport(spec.name, key, len(todo), len(prompts) - len(todo)))
    return reports


def _answer_row(prompt_id: int, model_id: int, text: str, record: dict[str, Any], key: str) -> AnswerRow:
    from db.arena_repo import AnswerRow

    return AnswerRow(prompt_id=prompt_id, model_id=model_id, text=text, gen_params=record, params_hash=key)


def _resolve(database: Database, name: str) -> tuple[ModelSpec, int]:
    """Resolve a name or directory and make sure it is a registered model; return (spec, model id)."""
    from core.errors import UserError
    from db import repo
    from db.model_lookup import resolve_model

    spec = resolve_model(name, database=database)
    with database.session() as s:
        row = repo.get_model(s, spec.name)
        if row is None:
            row = repo.upsert_model(s, spec.name, spec.path, spec.backend)
        elif Path(row.path).expanduser().resolve() != Path(spec.path).expanduser().resolve():
            raise UserError(
                f"model name {spec.name!r} is registered for {row.path}, not {spec.path}; "
                "register this checkpoint under another name (`evals models add`)"
            )
        return spec, row.id


def _check_chat_template(spec: ModelSpec) -> None:
    """Fail before loading weights when a local HF checkpoint clearly has no chat template."""
    from core.errors import UserError

    path = Path(spec.path)
    if spec.backend != "hf" or not path.is_dir():
        return
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return
    config = path / "tokenizer_config.json"
    try:
        has = bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, json.JSONDecodeError):
        return  # let the runner decide
    if not has:
        raise UserError(f"model {spec.name} ({spec.path}) has no chat template; arena answers need a chat model")


def open_logged_runner(spec: ModelSpec, database: Database | None = None) -> Runner:
    """`open_runner(spec)`; a server's every request and response is stored in `database` (the arena's audit)."""
    from runners import open_runner

    kwargs: dict[str, Any] = {}
    if spec.backend == "openai" and database is not None:  # store every request/response (arena audit)
        from db.exchange_log import exchange_logger

        kwargs["on_exchange"] = exchange_logger(database, spec.name)
    return open_runner(spec, **kwargs)
