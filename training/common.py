"""What pretrain/sft/merge/tokenizer share: resolving the base, loading it for training, LoRA,
atomic output directories, naming and registration."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, cast

from core.errors import UserError
from training.configs import LoraParams, TrainParams
from training.portable import make_portable
from training.register import META_FILE, now_iso, read_meta, register, versions, write_meta

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from db import Database
    from training.loop import TrainResult

    # What a training loop updates and saves: a plain checkpoint, or it wrapped with a LoRA adapter.
    TrainableModel: TypeAlias = PreTrainedModel | PeftModel

# Where the commands report progress lines (`print` by default; tests pass a silent one).
Log = Callable[[str], object]


class Trained(NamedTuple):
    """What every training command returns (a tuple, so `name, path, lineage = ...` keeps working)."""

    name: str  # the registered model name
    path: Path  # the output directory
    lineage: dict[str, Any]  # Any: free-form JSON, as stored in `models.lineage` (see training/register.py)


@dataclass(slots=True)
class Base:
    name: str
    path: Path
    fingerprint: str
    meta: dict[str, Any] | None  # its leitai_train.json, if it is one of ours


def resolve_base(spec: str | Path, database: Database | None = None) -> Base:
    """`--base DIR` or a registered (non-adapter) model name -> Base; clear errors otherwise."""
    from core.model_spec import TINY_NAME, weights_fingerprint

    text = str(spec)
    path = Path(text).expanduser()
    if not path.exists() and database is not None and "/" not in text:
        from db import repo

        with database.session() as s:
            row = repo.get_model(s, text)
            if row is not None:
                if row.adapter_path:
                    raise UserError(
                        f"base {text!r} is a LoRA adapter on {row.base_model or row.path}; "
                        f"run `evals train merge --adapter {text}` first and train on the merged model"
                    )
                path = Path(row.path)
    if not path.exists():
        raise UserError(
            f"base model {text} does not exist (expected a Hugging Face checkpoint dir or a registered model name)"
        )
    if not path.is_dir() or not (path / "config.json").is_file():
        if (path / "adapter_config.json").is_file():
            raise UserError(f"base {path} is a LoRA adapter, not a full model; merge it first (`evals train merge`)")
        raise UserError(f"base model {path} has no config.json: not a Hugging Face model directory")
    path = path.resolve()
    meta = read_meta(path)
    name = None
    if database is not None:
        from sqlalchemy import select

        from db.models import Model

        with database.session() as s:
            row = s.scalars(
                select(Model).where(Model.path == str(path), Model.adapter_path.is_(None)).order_by(Model.id)
            ).first()
            name = row.name if row is not None else None
    if name is None and meta and meta.get("name"):
        name = meta["name"]
    if name is None:
        from training.tiny import default_tiny_path

        name = TINY_NAME if path == default_tiny_path().resolve() else path.name
    return Base(name=name, path=path, fingerprint=weights_fingerprint(path), meta=meta)


def training_device() -> torch.device:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_for_training(base: Base, *, notes: list[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, bool]:
    """Load tokenizer + fp32 model; fix a missing pad token; resize embeddings if the tokenizer grew.

    Returns:
        (model, tokenizer, vocab_grew): `vocab_grew` is True when new pieces have untrained (or
        freshly resized) embeddings — then LoRA also trains embed_tokens and lm_head.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(base.path)
    except Exception as exc:
        raise UserError(
            f"cannot load the tokenizer of {base.path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if tok.pad_token is None:
        # Padding is always masked (labels -100, attention 0), so reusing EOS is safe (FA's recipe).
        fallback = tok.eos_token or tok.unk_token
        if fallback is None:
            raise UserError(f"tokenizer of {base.path} has no pad, eos or unk token to pad with")
        tok.pad_token = fallback
        notes.append(f"tokenizer has no pad token; padding with {fallback!r} (always masked)")
    try:
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    except Exception as exc:
        raise UserError(
            f"cannot load model weights from {base.path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    n_emb = input_vocab(model)
    grew = bool(base.meta and base.meta.get("stage") == "tokenizer")
    if len(tok) > n_emb:
        model.resize_token_embeddings(len(tok), mean_resizing=True)
        notes.append(f"resized embeddings {n_emb} -> {len(tok)} to match the tokenizer")
        grew = True
    # nn.Module.to's signature: transformers' decorator on PreTrainedModel.to hides it from mypy.
    cast("torch.nn.Module", model).to(training_device())
    return model, tok, grew


def input_vocab(model: PreTrainedModel) -> int:
    """Rows of the model's input embedding matrix."""
    rows = model.get_input_embeddings().num_embeddings
    assert isinstance(rows, int)  # an nn.Embedding's row count
    return rows


def apply_lora(model: PreTrainedModel, lora: LoraParams, vocab_grew: bool) -> tuple[PeftModel, list[str]]:
    """Wrap `model` with a peft LoRA adapter; returns (peft model, modules_to_save used)."""
    from peft import LoraConfig, TaskType, get_peft_model

    if lora.modules_to_save == "auto":
        mts = ["embed_tokens", "lm_head"] if vocab_grew else []
    else:
        mts = [
            m
            for m in (
                lora.modules_to_save.split(",") if isinstance(lora.modules_to_save, str) else lora.modules_to_save
            )
            if m
        ]
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in lora.target_modules if t in names]
    if not targets:
        raise UserError(f"none of the LoRA target modules {list(lora.target_modules)} exist in this model")
    cfg = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=targets, modules_to_save=mts or None, bias="none",
    )  # fmt: skip
    return get_peft_model(model, cfg), mts


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def short_hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:6]


def default_out_dir(name: str) -> Path:
    from training.tiny import cache_dir

    return cache_dir() / "trained" / name


class OutputDir:
    """Write into a temp sibling, move into place on success (an interrupted run leaves nothing)."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target).expanduser().resolve()
        if self.target.exists() and (
            not self.target.is_dir() or (any(self.target.iterdir()) and not (self.target / META_FILE).exists())
        ):
            raise UserError(f"output {self.target} exists and is not a previous training output; choose another --out")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))

    def commit(self) -> Path:
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}-{time.time_ns()}")
            self.target.rename(old)
        self.tmp.rename(self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.target.chmod(0o755)  # mkdtemp makes it private; a checkpoint should be readable
        return self.target

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def finish(
    *,
    database: Database | None,
    name: str,
    out: OutputDir,
    lineage: dict[str, Any],
    base: Base,
    adapter: bool,
    params: dict[str, Any],
) -> Path:
    """Write leitai_train.json, move the output into place, register it; returns the final dir."""
    lineage = {"name": name, **lineage, "base": base.name, "base_path": str(base.path), "parents": [base.name],
               "created_at": now_iso(), "versions": versions()}  # fmt: skip
    write_meta(out.tmp, lineage)
    final = out.commit()
    if database is not None:
        register(
            database, name=name, path=base.path if adapter else final, adapter_path=final if adapter else None,
            base_model=base.name, lineage=lineage, params=params,
        )  # fmt: skip
    return final


def hparams_dict(params: TrainParams, method: str) -> dict[str, Any]:
    d = params.to_dict()
    if method != "lora":
        d.pop("lora", None)
    return d


def ensure_registered(database: Database | None, base: Base) -> None:
    """Register an unregistered base under its name, so the lineage tree has a root."""
    if database is None:
        return
    from db import repo

    with database.session() as s:
        if repo.get_model(s, base.name) is None:
            lineage = dict(base.meta) if base.meta else {"stage": "external"}
            repo.upsert_model(s, base.name, str(base.path), backend="hf", lineage=lineage,
                              base_model=(base.meta or {}).get("base"))  # fmt: skip


def train_run(
    stage: str,
    base_spec: str | Path,
    data_path: Path,
    *,
    method: str,
    params: TrainParams,
    out: Path | None = None,
    name: str | None = None,
    database: Database | None = None,
    deepspeed: str | None = None,
    data_format: str | None = None,
    progress: bool = True,
    log: Log = print,
) -> Trained:
    """Shared body of `evals train pretrain` and `evals train sft`."""
    from training import data as D
    from training import loop as L

    if method not in ("full", "lora"):
        raise UserError(f"unknown --method {method!r} (lora | full)")
    if params.batch_size < 1 or params.grad_accum < 1 or params.max_length < 2:
        raise UserError("--batch-size and --grad-accum must be >= 1, --max-length >= 2")
    _cpu_threads()
    base = resolve_base(base_spec, database)
    # Data first: a malformed file should fail before a multi-GB model is loaded.
    if stage == "pretrain":
        samples, files = D.load_corpus(data_path)
        fmt = "text"
    else:
        convs, files, fmt = D.load_sft(data_path, data_format)
    data_sha = D.fingerprint(files)
    ds_config = L.require_deepspeed(deepspeed) if deepspeed else None
    hp = hparams_dict(params, method)
    label = ("pt" if method == "full" else "pt-lora") if stage == "pretrain" else method
    name = name or f"{base.name}-{label}-{short_hash(base.fingerprint, data_sha, hp, stage, method, deepspeed)}"
    target = OutputDir(out if out is not None else default_out_dir(name))
    try:
        notes: list[str] = []
        model: TrainableModel
        model, tok, grew = load_for_training(base, notes=notes)
        if stage == "pretrain":
            enc = D.pack_corpus(tok, samples, params.max_length)
        else:
            enc = D.encode_sft(tok, convs, params.max_length)
        if enc.truncated:
            notes.append(
                f"{enc.truncated} of {enc.n_examples} examples longer than --max-length {params.max_length}: truncated"
            )
        if enc.dropped:
            notes.append(f"{enc.dropped} examples dropped: no answer token left after truncation")
        for n in notes:
            log(f"note: {n}")
        mts: list[str] = []
        if method == "lora":
            model, mts = apply_lora(model, params.lora, grew)
        total, trainable = count_params(model)
        log(f"{stage} {method}: base {base.name}, {enc.stats()['n_sequences']} sequences, {enc.n_tokens:,} tokens, "
            f"{trainable:,}/{total:,} trainable params, {L.total_steps(len(enc.input_ids), params)} steps")  # fmt: skip
        pad_id = tok.pad_token_id
        if ds_config is None:
            result = L.train_torch(
                model, enc.input_ids, enc.labels, params, pad_id=pad_id, label=f"{stage}-{method}", progress=progress
            )
        else:
            result = L.train_trainer(model, enc.input_ids, enc.labels, params, pad_id=pad_id, output_dir=target.tmp / "_trainer",
                                     deepspeed_config=ds_config, progress=progress)  # fmt: skip
        _save(model, tok, target.tmp, result)
        lineage = {
            "stage": stage, "method": method, "engine": result.engine,
            "data": {"path": str(Path(data_path).resolve()), "format": fmt, "sha256": data_sha, "files": [f.name for f in files], **enc.stats()},
            "hparams": hp, "modules_to_save": mts, "vocab_grew": grew, "vocab_size": len(tok), "notes": notes,
            "params_total": total, "params_trainable": trainable, "seed": params.seed,
            "loss_curve": result.loss_curve, **result.to_dict(),
        }  # fmt: skip
        ensure_registered(database, base)
        final = finish(database=database, name=name, out=target, lineage=lineage, base=base, adapter=method == "lora",
                       params={"n_params": total, "trainable": trainable, "method": method, "stage": stage})  # fmt: skip
    finally:
        target.cleanup()
    return Trained(name, final, lineage)


def _save(model: TrainableModel, tok: PreTrainedTokenizerBase, out_dir: Path, result: TrainResult) -> None:
    """save_pretrained: the adapter for LoRA, the full model otherwise; plus the tokenizer."""
    import shutil as _sh

    if result.trainer is not None:
        result.trainer.save_model(str(out_dir))  # gathers ZeRO-3 shards (stage3_gather_16bit_weights_on_model_save)
        _sh.rmtree(out_dir / "_trainer", ignore_errors=True)
        (out_dir / "training_args.bin").unlink(missing_ok=True)
    else:
        model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(out_dir)
    make_portable(out_dir, tok)  # loads under transformers 4.x and 5.x


def _cpu_threads() -> None:
    """On CPU train with LEITAI_TRAIN_THREADS intra-op threads (default 1): the models trained
    on CPU here are tiny, where a second thread buys little and a shared machine makes OpenMP
    threads thrash (measured: 60 tiny steps 134 s with 2 threads vs ~27 s with 1 under load)."""
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, int(os.environ.get("LEITAI_TRAIN_THREADS", "1"))))
