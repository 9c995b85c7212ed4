"""`evals results`, `evals models ...`, `evals export ...`: read what the store holds (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from evals.cli.app import app
from evals.cli.options import DbOpt, find_run, open_database, path_value, write_json_atomic

if TYPE_CHECKING:
    from core.model_spec import ModelSpec

models_app = typer.Typer(help="Registered models.", no_args_is_help=True)
export_app = typer.Typer(help="Export results in official formats.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(export_app, name="export")


@app.command()
def results(
    suite: Annotated[Optional[str], typer.Option(help="Only this suite.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only this model name.")] = None,
    db: DbOpt = None,
) -> None:
    """List runs with their headline metrics, newest first."""
    from rich.console import Console
    from rich.table import Table

    from db import repo

    database = open_database(db, write=False)
    with database.session(write=False) as s:
        _check_filters(s, suite, model)
    table = Table(title=f"runs in {database.url}")
    table.add_column("run", no_wrap=True)
    for col in ("suite", "model", "split", "shots", "status", "items", "headline", "finished"):
        table.add_column(col)
    with database.session() as s:
        for r in repo.list_runs(s, suite=suite, model=model):
            metrics = repo.run_metrics(s, r.id)
            headline = _headline(r.suite, metrics)
            cfg = r.config or {}
            table.add_row(
                r.id[:10],
                r.suite,
                r.model.name,
                str(cfg.get("split", "")),
                str(cfg.get("shots", "")),
                r.status,
                str(r.n_items),
                headline,
                r.finished_at.strftime("%Y-%m-%d %H:%M") if r.finished_at else "",
            )
    Console().print(table)


def _check_filters(s: Any, suite: str | None, model: str | None) -> None:
    """A suite or model the store has never heard of is a typo: say so (with a near name) instead of an empty table."""
    from difflib import get_close_matches

    from core.errors import UserError
    from db import repo
    from evals.registry import suite_families, suite_names

    if suite is not None:
        known = sorted({*suite_names(), *repo.stored_suites(s)})
        if suite not in known and suite.split(":", 1)[0] not in suite_families():
            near = get_close_matches(suite, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f" (known: {', '.join(known)})"
            raise UserError(f"no suite named {suite!r}{hint}")
    if model is not None and repo.get_model(s, model) is None:
        near = get_close_matches(model, [m.name for m in repo.list_models(s)], n=1)
        hint = f"; did you mean {near[0]!r}?" if near else " (see `evals models list`)"
        raise UserError(f"no model named {model!r} in this store{hint}")


def _headline(suite: str, metrics: dict[tuple[str, str], float]) -> str:
    """The suite's declared headline; for a suite without one (lm-eval tasks, a suite no longer installed)
    the first declared headline metric the run has."""
    from core.errors import UserError
    from evals.registry import all_capabilities, capabilities

    try:
        own = capabilities(suite).headline
    except UserError:
        own = None
    candidates = [own] if own else [c.headline for c in all_capabilities().values() if c.headline]
    for h in candidates:
        if (h.metric, "") in metrics:
            return h.format(metrics[(h.metric, "")])
    return ""


@models_app.command("list")
def models_list(db: DbOpt = None) -> None:
    """Registered models with their lineage."""
    from rich.console import Console
    from rich.table import Table

    from db import repo

    database = open_database(db, write=False)
    table = Table(title="models")
    for col in ("name", "backend", "base", "quant", "path"):
        table.add_column(col)
    with database.session() as s:
        for m in repo.list_models(s):
            table.add_row(m.name, m.backend, m.base_model or "", m.quantization, m.path)
    Console().print(table)


@models_app.command("add")
def models_add(
    name: str,
    path: Annotated[
        str,
        typer.Option(
            help="Checkpoint dir, .gguf file (or a dir holding one), hub id org/name[@rev] in the local HF cache, or endpoint."
        ),
    ],
    backend: Annotated[str, typer.Option()] = "hf",
    base: Annotated[Optional[str], typer.Option(help="Parent model name (lineage).")] = None,
    db: DbOpt = None,
) -> None:
    """Register a model under a name so `evals run --model NAME` finds it."""
    from core.errors import UserError
    from core.model_spec import not_found_message, resolve_local
    from evals.cli.preflight import check_backend

    _check_model_name(name)
    if not path.strip():
        raise UserError("--path is empty; give a checkpoint dir, .gguf file or hub id")
    check_backend(backend)
    if backend == "hf":
        spec = resolve_local(path)
        if spec is None:
            raise UserError(not_found_message(path))
        # a hub id stays a hub id: each use resolves the revision the cache holds then
        path = spec.params["hub"]["spec"] if "hub" in spec.params else spec.path
    database = open_database(db)
    from db import repo

    with database.session() as s:
        if base is not None and repo.get_model(s, base) is None:
            raise UserError(f"--base {base!r} is not a registered model (see `evals models list`)")
        repo.upsert_model(s, name, path, backend=backend, base_model=base)
    typer.echo(f"registered {name} -> {path}")


@models_app.command("show")
def models_show(name: str, db: DbOpt = None) -> None:
    """One model: path, parameters, lineage and its runs, and what its path resolves to now
    (file, hub revision, format, GGUF quant type, size). NAME may also be a path or hub id."""
    import json

    from core.errors import UserError
    from core.model_spec import not_found_message, resolve_local
    from db import repo
    from db.model_lookup import registered_spec

    _check_model_name(name)
    database = open_database(db, write=False)
    with database.session() as s:
        m = repo.get_model(s, name)
        if m is None:
            spec = resolve_local(name)
            if spec is None:
                raise UserError(f"no model named {name!r} (see `evals models list`); " + not_found_message(name))
            doc = {"name": spec.name, "registered": False, "resolved": resolved_doc(spec)}
        else:
            doc = {
                "name": m.name,
                "path": m.path,
                "backend": m.backend,
                "base_model": m.base_model,
                "adapter_path": m.adapter_path,
                "quantization": m.quantization,
                "params": m.params,
                "lineage": m.lineage,
                "runs": [r.id for r in repo.list_runs(s, model=m.name)],
            }
            if m.backend == "hf":
                doc["resolved"] = resolved_doc(registered_spec(m.name, m.path, m.backend, m.base_model, m.adapter_path))
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=1, default=str))


def _check_model_name(name: str) -> None:
    """A model NAME is what `--model NAME` finds later: an empty one would resolve as the current directory,
    one with outer spaces would be registered apart from the name the user meant."""
    from core.errors import UserError

    if not name.strip():
        raise UserError("model NAME is empty")
    if name != name.strip():
        raise UserError(f"model NAME {name!r} begins or ends with whitespace")


def resolved_doc(spec: ModelSpec) -> dict[str, Any]:
    """What `--model` loads: path, hub revision, format, GGUF quant type, size on disk, fingerprint."""
    from core.model_spec import weights_bytes

    hub, gguf = spec.params.get("hub") or {}, spec.params.get("gguf") or {}
    return {
        "path": spec.path,
        "format": spec.params.get("format"),
        "quant_type": gguf.get("quant_type"),
        "size_bytes": weights_bytes(Path(spec.path)),
        "hub_id": hub.get("repo_id"),
        "revision": hub.get("revision"),
        "requested_revision": hub.get("requested"),
        "hub_cache": hub.get("cache_dir"),
        "fingerprint": spec.fingerprint,
    }


@export_app.command("ceval-submission")
def export_ceval_submission(
    run: Annotated[str, typer.Option("--run", help="Run id (or unique prefix) of a C-Eval test-split run.")],
    out: Annotated[Path, typer.Option("--out", "-o", parser=path_value, help="Output file.")] = Path("submission.json"),
    db: DbOpt = None,
) -> None:
    """Write the official C-Eval submission JSON: {subject: {id: letter}} for every test item of the run."""
    from core.errors import UserError
    from db import repo

    database = open_database(db, write=False)
    with database.session() as s:
        r = find_run(s, run)
        if r.suite != "ceval":
            raise UserError(f"run {r.id} is a {r.suite} run, not ceval")
        split = (r.config or {}).get("split")
        if split != "test":
            raise UserError(
                f"run {r.id[:10]} is on the {split} split; the submission covers the test split "
                "(evals run --suite ceval --split test)"
            )
        if (r.config or {}).get("limit"):
            raise UserError(
                f"run {r.id[:10]} used --limit {r.config['limit']}: a submission needs every test item; "
                "re-run without --limit"
            )
        submission: dict[str, dict[str, str]] = {}
        for item in repo.item_results(s, r.id):
            item_id = str((item.extra or {}).get("id", item.item_id))
            if item.pred not in ("A", "B", "C", "D"):  # never a half-valid file
                raise UserError(f"run {r.id[:10]}: item {item.subject}/{item_id} has no A-D prediction")
            submission.setdefault(item.subject, {})[item_id] = item.pred
        status = r.status
    if status != "finished":
        raise UserError(f"run {run} is {status}; finish it (re-run the same command) before exporting")
    write_json_atomic(out, submission)
    typer.echo(f"wrote {out}: {sum(len(v) for v in submission.values())} answers over {len(submission)} subjects")
