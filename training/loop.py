"""The compact training loop (plain torch AdamW, warm-up + cosine, grad accumulation) and the
`transformers.Trainer` + DeepSpeed path used only when `--deepspeed` is given.

Both take the same inputs (token id lists + labels) and return the same `TrainResult`, so the
commands, the lineage and the tests do not care which one ran.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from training.configs import DEEPSPEED_CONFIGS, TrainParams
from training.data import IGNORE_INDEX

if TYPE_CHECKING:
    import torch
    from transformers import Trainer

    from training.common import TrainableModel

OOM_HINT = (
    "out of memory while training; try a smaller --batch-size (raise --grad-accum to keep the "
    "effective batch), a shorter --max-length, --method lora instead of full, or --deepspeed zero3 "
    "(shards parameters/optimizer across GPUs)"
)


class TrainingError(UserError):
    """Training could not run (out of memory, missing CUDA/DeepSpeed, diverged loss)."""


@dataclass(slots=True)
class TrainResult:
    steps: int
    final_loss: float
    loss_curve: list[list[float]]  # [[step, loss], ...] (step is 1-based; loss averaged over accumulation)
    tokens: int
    seconds: float
    tokens_per_s: float
    engine: str  # "torch" | "trainer+deepspeed-zero2" | ...
    extra: dict[str, Any] = field(default_factory=dict)  # Any: JSON, merged into the lineage
    trainer: Trainer | None = None  # the transformers.Trainer when it ran (saves ZeRO-3 sharded weights)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps, "final_loss": self.final_loss, "tokens": self.tokens, "seconds": round(self.seconds, 2),
            "tokens_per_s": round(self.tokens_per_s, 1), "engine": self.engine, **self.extra,
        }  # fmt: skip


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass


def total_steps(n_sequences: int, params: TrainParams) -> int:
    """Optimizer steps: `params.steps` if set, else epochs * ceil(sequences / effective batch)."""
    if params.steps is not None:
        return max(1, int(params.steps))
    per_epoch = math.ceil(n_sequences / max(1, params.batch_size * params.grad_accum))
    return max(1, math.ceil(per_epoch * params.epochs))


def warmup_steps(params: TrainParams, steps: int) -> int:
    """Warm-up steps of a run: ceil(warmup_ratio * steps), as HF's Trainer counts them (transformers 5
    dropped `warmup_ratio` from TrainingArguments, so both loops take the step count)."""
    return int(math.ceil(params.warmup_ratio * steps))


def lr_lambda(steps: int, params: TrainParams) -> Callable[[int], float]:
    """Linear warm-up over `warmup_ratio * steps`, then cosine decay to `min_lr_ratio`."""
    warmup = warmup_steps(params, steps)

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return params.min_lr_ratio + (1 - params.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def _batches(n: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless shuffled epochs of index batches (a new permutation per epoch, seeded)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=gen).tolist()
        for i in range(0, n, batch_size):
            yield order[i : i + batch_size]


def collate(ids: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sequence: ids with `pad_id`, labels with -100, attention mask 0."""
    import torch

    width = max(len(x) for x in ids)
    inp = torch.full((len(ids), width), pad_id, dtype=torch.long)
    lab = torch.full((len(ids), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, (x, y) in enumerate(zip(ids, labels, strict=True)):
        inp[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        lab[r, : len(y)] = torch.tensor(y, dtype=torch.long)
        mask[r, : len(x)] = 1
    return {"input_ids": inp, "labels": lab, "attention_mask": mask}


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    kinds: tuple[type, ...] = (MemoryError, oom_type) if isinstance(oom_type, type) else (MemoryError,)
    return isinstance(exc, kinds) or "out of memory" in str(exc).lower()


def train_torch(
    model: torch.nn.Module,
    input_ids: Sequence[Sequence[int]],
    labels: Sequence[Sequence[int]],
    params: TrainParams,
    *,
    pad_id: int,
    label: str = "train",
    progress: bool = True,
) -> TrainResult:
    """Train `model` in place on (input_ids, labels) with AdamW + warm-up/cosine + accumulation."""
    import torch

    seed_everything(params.seed)
    restore = set_attention_dropout(model, params.attention_dropout)
    device = next(model.parameters()).device
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError("the model has no trainable parameters")
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]  # norms/biases: no weight decay (common practice)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params.learning_rate, betas=(params.adam_betas[0], params.adam_betas[1]),
    )  # fmt: skip
    steps = total_steps(len(input_ids), params)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(steps, params))
    batches = _batches(len(input_ids), params.batch_size, params.seed)
    curve: list[list[float]] = []
    tokens = 0
    model.train()
    start = time.perf_counter()
    try:
        with progress_bar(progress, steps, label) as advance:
            for step in range(steps):
                total = 0.0
                # Weight every micro-batch by its label-token count, so accumulation equals one big batch.
                micro = [next(batches) for _ in range(params.grad_accum)]
                n_lab = [sum(sum(1 for t in labels[i][1:] if t != IGNORE_INDEX) for i in mb) for mb in micro]
                denom = max(1, sum(n_lab))
                for mb, nl in zip(micro, n_lab, strict=True):
                    if nl == 0:
                        continue
                    batch = {
                        k: v.to(device)
                        for k, v in collate([input_ids[i] for i in mb], [labels[i] for i in mb], pad_id).items()
                    }
                    loss = model(**batch).loss
                    (loss * (nl / denom)).backward()
                    total += float(loss.detach()) * nl / denom
                    tokens += int(batch["attention_mask"].sum())
                if not math.isfinite(total):
                    raise TrainingError(f"loss became {total} at step {step + 1}; lower the learning rate")
                torch.nn.utils.clip_grad_norm_(trainable, params.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                curve.append([step + 1, round(total, 5)])
                elapsed = time.perf_counter() - start
                advance(total, tokens / max(elapsed, 1e-9))
    except (RuntimeError, MemoryError) as exc:
        if _is_oom(exc):
            raise TrainingError(OOM_HINT) from exc
        raise
    finally:
        restore()
    model.eval()
    seconds = time.perf_counter() - start
    tail = [x[1] for x in curve[-5:]]
    return TrainResult(
        steps=steps, final_loss=round(sum(tail) / len(tail), 5), loss_curve=curve, tokens=tokens, seconds=seconds,
        tokens_per_s=tokens / max(seconds, 1e-9), engine="torch",
    )  # fmt: skip


def set_attention_dropout(model: torch.nn.Module, p: float | None) -> Callable[[], None]:
    """Set the attention-dropout probability of every attention module; returns an undo function.

    Saved checkpoints keep their configured value (the undo runs before saving)."""
    if p is None:
        return lambda: None
    # Any: the attention classes differ per architecture; what they share is a float `attention_dropout`.
    mods: list[Any] = [
        m for m in model.modules() if hasattr(m, "attention_dropout") and isinstance(m.attention_dropout, float)
    ]
    old = [m.attention_dropout for m in mods]
    for m in mods:
        m.attention_dropout = float(p)

    def undo() -> None:
        for m, v in zip(mods, old, strict=True):
            m.attention_dropout = v

    return undo


@contextmanager
def progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[float, float], None]]:
    """Yield `advance(loss, tokens_per_s)`; a rich bar with loss and tokens/s when enabled."""
    if not enabled:
        yield lambda loss, tps: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[tps]:,.0f} tok/s"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total, loss=float("nan"), tps=0.0)
        yield lambda loss, tps: bar.update(task, advance=1, loss=loss, tps=tps)


# ---------------------------------------------------------------------------------------------
# transformers.Trainer (+ DeepSpeed)


def require_deepspeed(stage: str) -> Path:
    """Config path for `stage`, or one clear error if CUDA or the deepspeed package is missing."""
    import importlib.util

    import torch

    if stage not in DEEPSPEED_CONFIGS:
        raise UserError(f"unknown --deepspeed {stage!r} (zero2 | zero3)")
    if not torch.cuda.is_available():
        raise TrainingError(
            f"--deepspeed {stage} needs a CUDA GPU; none is available (drop --deepspeed to train with plain torch)"
        )
    if importlib.util.find_spec("deepspeed") is None:
        raise TrainingError(f"--deepspeed {stage} needs the deepspeed package: pip install deepspeed (GPU hosts only)")
    return DEEPSPEED_CONFIGS[stage]


def train_trainer(
    model: TrainableModel,
    input_ids: Sequence[Sequence[int]],
    labels: Sequence[Sequence[int]],
    params: TrainParams,
    *,
    pad_id: int,
    output_dir: Path,
    deepspeed_config: Path | None,
    progress: bool = True,
) -> TrainResult:
    """Train with `transformers.Trainer`; `deepspeed_config` is handed to TrainingArguments.

    Without `deepspeed_config` this is plain Trainer (used by the tests to cover the wiring on CPU).
    """
    import torch
    from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

    class _Data(torch.utils.data.Dataset[dict[str, Sequence[int]]]):
        def __len__(self) -> int:
            return len(input_ids)

        def __getitem__(self, i: int) -> dict[str, Sequence[int]]:
            return {"input_ids": input_ids[i], "labels": labels[i]}

    def _collate(rows: list[dict[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        return collate([r["input_ids"] for r in rows], [r["labels"] for r in rows], pad_id)

    curve: list[list[float]] = []

    class _Curve(TrainerCallback):
        def on_log(
            self,
            args: TrainingArguments,
            state: TrainerState,
            control: TrainerControl,
            logs: dict[str, float] | None = None,
            **kw: object,
        ) -> None:
            if logs and "loss" in logs:
                curve.append([state.global_step, round(float(logs["loss"]), 5)])

    steps = total_steps(len(input_ids), params)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=params.batch_size,
        gradient_accumulation_steps=params.grad_accum, learning_rate=params.learning_rate,
        weight_decay=params.weight_decay, warmup_steps=warmup_steps(params, steps), lr_scheduler_type="cosine",
        max_steps=steps, max_grad_norm=params.max_grad_norm, adam_beta1=params.adam_betas[0],
        adam_beta2=params.adam_betas[1], seed=params.seed, logging_steps=1, save_strategy="no",
        report_to=[], disable_tqdm=not progress, bf16=bf16, fp16=cuda and not bf16,
        use_cpu=not cuda, remove_unused_columns=False, dataloader_num_workers=0,
        deepspeed=str(deepspeed_config) if deepspeed_config else None,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=_Data(), data_collator=_collate, callbacks=[_Curve()])
    start = time.perf_counter()
    try:
        out = trainer.train()
    except (RuntimeError, MemoryError) as exc:
        if _is_oom(exc):
            raise TrainingError(OOM_HINT) from exc
        raise
    seconds = time.perf_counter() - start
    trained: Any = trainer.model  # the model we passed in (typed loosely by 5.x's Trainer)
    model = trained
    model.eval()
    tokens = int(
        sum(len(x) for x in input_ids) * steps * params.batch_size * params.grad_accum / max(1, len(input_ids))
    )
    tail = [x[1] for x in curve[-5:]] or [float(out.training_loss)]
    engine = "trainer" + (f"+deepspeed-{Path(deepspeed_config).stem.removeprefix('ds_')}" if deepspeed_config else "")
    return TrainResult(
        steps=steps, final_loss=round(sum(tail) / len(tail), 5), loss_curve=curve, tokens=tokens, seconds=seconds,
        tokens_per_s=tokens / max(seconds, 1e-9), engine=engine, trainer=trainer,
    )  # fmt: skip
