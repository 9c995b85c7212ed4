"""`evals arena pool add|list|remove`: the models voters meet in live mode (the vote page's 实时对战).

Registered on `arena_app` from `evals.cli.arena`. Nothing here loads torch: a local checkpoint is
only loaded by the dashboard, when a voter first meets it.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from evals.cli.arena import arena_app
from evals.cli.options import DbOpt, open_database

pool_app = typer.Typer(help="The live pool: models answering voters' own questions.", no_args_is_help=True)
arena_app.add_typer(pool_app, name="pool")


@pool_app.command("add")
def pool_add(
    name: Annotated[str, typer.Argument(help="Name shown after the vote (unique in the pool).")],
    base_url: Annotated[
        Optional[str],
        typer.Option("--base-url", help="OpenAI-compatible API root with streaming, e.g. http://127.0.0.1:8000/v1."),
    ] = None,
    served_model_name: Annotated[
        Optional[str], typer.Option("--served-model-name", help="The model name the server expects.")
    ] = None,
    api_key_env: Annotated[
        Optional[str],
        typer.Option(
            "--api-key-env", metavar="VAR", help="Environment variable with the API key (read per call, never stored)."
        ),
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model", metavar="PATH|NAME", help="A local checkpoint served in-process (instead of --base-url)."
        ),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, max=4096)] = 256,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0, help="0 = greedy.")] = 0.7,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 0.9,
    system_prompt: Annotated[
        Optional[str], typer.Option("--system-prompt", help="System message of every conversation ('' for none).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Add a model to the live pool: a server (--base-url + --served-model-name) or a checkpoint (--model)."""
    from arena.live_pool import LIVE_PARAMS, LIVE_SYSTEM_PROMPT, add_pool_model
    from runners.base import GenParams

    params = GenParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=LIVE_PARAMS.seed)
    entry = add_pool_model(
        open_database(db), name, base_url=base_url, served_model_name=served_model_name, api_key_env=api_key_env,
        model=model, params=params, system_prompt=LIVE_SYSTEM_PROMPT if system_prompt is None else system_prompt,
    )  # fmt: skip
    where = entry.base_url if entry.kind == "openai" else entry.model_path
    typer.echo(f"added {entry.name} ({entry.kind}: {where})")


@pool_app.command("list")
def pool_list(db: DbOpt = None) -> None:
    """List the live pool (API keys are never stored: only the variable's name is shown)."""
    from arena.live_pool import list_pool

    entries = list_pool(open_database(db))
    if not entries:
        typer.echo(
            "the live pool is empty (evals arena pool add NAME --base-url URL --served-model-name M | --model PATH)"
        )
        return
    for e in entries:
        if e.kind == "openai":
            key = f" key from ${e.api_key_env}" if e.api_key_env else ""
            where = f"{e.base_url} model={e.served_model_name}{key}"
        else:
            where = str(e.model_path)
        p = e.params
        typer.echo(f"{e.name}\t{e.kind}\t{where}\tmax_new_tokens={p.max_new_tokens} temperature={p.temperature:g} "
                   f"top_p={p.top_p:g}")  # fmt: skip


@pool_app.command("remove")
def pool_remove(name: Annotated[str, typer.Argument(help="Pool model to remove.")], db: DbOpt = None) -> None:
    """Remove a model from the live pool (its stored conversations and votes stay)."""
    from arena.live_pool import remove_pool_model

    remove_pool_model(open_database(db), name)
    typer.echo(f"removed {name}")
