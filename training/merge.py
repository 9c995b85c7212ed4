"""`evals train merge`: fold a LoRA adapter (and its modules_to_save) into its base, save a full model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from training.portable import make_portable

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from db import Database
    from training.common import Log, TrainableModel, Trained


def load_with_adapter(
    base_path: Path | str, adapter_path: Path | str, *, dtype: torch.dtype | None = None, merge: bool = True
) -> tuple[TrainableModel, PreTrainedTokenizerBase]:
    """Base model + peft adapter (merged into plain weights when `merge`), and the right tokenizer.

    The tokenizer comes from the adapter dir when it has one (its vocabulary may have grown), and
    the base embeddings are resized to it before the adapter's saved embed_tokens/lm_head load.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.common import input_vocab

    adapter_path = Path(adapter_path)
    if not (adapter_path / "adapter_config.json").is_file():
        raise UserError(f"{adapter_path} is not a LoRA adapter dir (no adapter_config.json)")
    tok_dir = (
        adapter_path
        if any((adapter_path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"))
        else Path(base_path)
    )
    tok = AutoTokenizer.from_pretrained(tok_dir)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype or torch.float32)
    if len(tok) != input_vocab(model):
        model.resize_token_embeddings(len(tok), mean_resizing=False)
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter_path))
    except Exception as exc:
        raise UserError(f"cannot apply adapter {adapter_path} to {base_path}: {str(exc).splitlines()[0]}") from None
    return (peft_model.merge_and_unload() if merge else peft_model), tok


def merge(
    adapter: str | Path,
    *,
    base: str | Path | None = None,
    out: Path | None = None,
    name: str | None = None,
    database: Database | None = None,
    log: Log = print,
) -> Trained:
    """Merge `adapter` (dir or registered LoRA model name) into `base` (dir/name; default: the
    adapter's registered base, else adapter_config.json's base_model_name_or_path)."""
    import json

    from training.common import (
        Base,
        OutputDir,
        Trained,
        default_out_dir,
        ensure_registered,
        finish,
        resolve_base,
        short_hash,
    )
    from training.register import read_meta

    adapter_name: str | None = None
    adapter_dir = Path(str(adapter)).expanduser()
    registered_base: str | None = None
    if not adapter_dir.exists() and database is not None and "/" not in str(adapter):
        from db import repo

        with database.session() as s:
            row = repo.get_model(s, str(adapter))
            if row is None:
                raise UserError(f"adapter {adapter} is neither a directory nor a registered model")
            if not row.adapter_path:
                raise UserError(f"model {adapter} has no adapter to merge (it is already a full model)")
            adapter_name, adapter_dir, registered_base = row.name, Path(row.adapter_path), row.path
    if not adapter_dir.exists():
        raise UserError(f"adapter {adapter} does not exist")
    adapter_dir = adapter_dir.resolve()
    meta = read_meta(adapter_dir) or {}
    adapter_name = adapter_name or meta.get("name") or adapter_dir.name
    if base is None:
        base = registered_base or meta.get("base_path")
        if base is None:
            cfg = (
                json.loads((adapter_dir / "adapter_config.json").read_text())
                if (adapter_dir / "adapter_config.json").is_file()
                else {}
            )
            base = cfg.get("base_model_name_or_path")
        if not base:
            raise UserError(f"cannot tell the base of {adapter_dir}; pass --base DIR")
    b: Base = resolve_base(base, database)
    name = name or f"{adapter_name}-merged"
    target = OutputDir(out if out is not None else default_out_dir(name))
    try:
        model, tok = load_with_adapter(b.path, adapter_dir)
        model.save_pretrained(str(target.tmp), safe_serialization=True)
        tok.save_pretrained(target.tmp)
        make_portable(target.tmp, tok)
        lineage = {
            "stage": "merge", "method": "merge", "adapter": str(adapter_dir), "adapter_name": adapter_name,
            "adapter_lineage": {k: v for k, v in meta.items() if k not in ("loss_curve", "versions")},
            # the merged model inherits its adapter's curve, so the dashboard still has one to plot
            "loss_curve": meta.get("loss_curve", []), "final_loss": meta.get("final_loss"), "steps": meta.get("steps"),
            "short_hash": short_hash(b.fingerprint, str(adapter_dir)),
        }  # fmt: skip
        ensure_registered(database, b)
        # the lineage parent is the adapter model (itself a child of the base)
        parent = (
            Base(name=adapter_name, path=b.path, fingerprint=b.fingerprint, meta=None)
            if database is not None and _registered(database, adapter_name)
            else b
        )
        n = sum(p.numel() for p in model.parameters())
        final = finish(database=database, name=name, out=target, lineage={**lineage, "merged_into": b.name}, base=parent,
                       adapter=False, params={"n_params": n, "method": "merge"})  # fmt: skip
        log(f"merged {adapter_name} into {b.name}")
    finally:
        target.cleanup()
    return Trained(name, final, lineage)


def _registered(database: Database, name: str) -> bool:
    from db import repo

    with database.session() as s:
        return repo.get_model(s, name) is not None
