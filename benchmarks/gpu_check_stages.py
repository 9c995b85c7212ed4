"""The stages of `benchmarks/gpu_check.py`, each a function of the shared `Check` returning its numbers.

Every stage goes through the project's own code: models load with `runners.open_runner` (the hf backend),
C-Eval and PPL run through `evals.engine.execute` into a throw-away SQLite store, training uses `training/`'s
loaders, LoRA wrapper and loops (`train_torch`; `train_trainer` with our ZeRO-2 config for DeepSpeed).
"""

from __future__ import annotations

import gc
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.gpu_check_data import write_ceval, write_ppl_text


@dataclass(frozen=True)
class Profile:
    """Sizes of one mode: `gpu` (a 7B-shaped model, the real check) or `cpu-smoke` (the same stages, small)."""

    name: str
    device: str
    shape: dict[str, int]  # LlamaConfig fields of the big model
    matmul_n: int
    matmul_iters: int
    ceval_subjects: int
    ceval_val_items: int  # per subject
    shots: int
    ppl_tokens: int
    ppl_context: int
    batch_size: int
    agree_windows: int  # 128-token windows of held-out text for bf16-vs-fp32
    train_steps: int
    train_sequences: int  # one batch of blocks, repeated every step, so the loss must fall
    train_block: int  # tokens per block


SHAPE_7B = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
            "intermediate_size": 11008, "vocab_size": 32000}  # fmt: skip
PROFILES = {
    # C-Eval 4 subjects x 25 = 100 items 5-shot; PPL about 260k tokens in 2048-token chunks.
    "gpu": Profile("gpu", "cuda", SHAPE_7B, 8192, 200, 4, 25, 5, 262_144, 2048, 8, 64, 10, 8, 128),
    # Same stages on a hidden-256 Llama: seconds on two CPU cores.
    "cpu-smoke": Profile(
        "cpu-smoke",
        "cpu",
        {
            "hidden_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "intermediate_size": 688,
            "vocab_size": 4096,
        },
        512,
        5,
        2,
        4,
        5,
        4096,
        256,
        8,
        8,
        5,
        4,
        64,
    ),  # fmt: skip
}


@dataclass
class Check:
    """What the stages share: the profile, a scratch dir, and results later stages read."""

    profile: Profile
    work: Path
    progress: bool
    tiny_dir: Path | None = None
    matmul_tflops: float | None = None
    big_dir: Path | None = None
    big_params: int | None = None
    big_spec: Any = None  # core.model_spec.ModelSpec of the built checkpoint
    big_runner: Any = None  # its loaded hf runner (runners.hf.HFRunner: the hooks need `.model`)

    @property
    def device(self) -> torch.device:
        return torch.device(self.profile.device)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def release_big(self) -> None:
        """Close the big model's runner and free its memory (before the small-model stages)."""
        if self.big_runner is not None:
            self.big_runner.close()
            self.big_runner = None
            free_memory()

    def floor_fraction(self, tokens: int, seconds: float) -> float | None:
        """Time at the FLOP floor (2 x params x tokens at the measured bf16 matmul rate) / time taken."""
        if not self.matmul_tflops or not self.big_params or seconds <= 0:
            return None
        return 2 * self.big_params * tokens / (self.matmul_tflops * 1e12) / seconds


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------- stages


def stage_tiny(c: Check) -> dict[str, Any]:
    """The project's tiny Chinese Llama (built and cached on first use): tokenizer + the small model."""
    from training.tiny import default_tiny_dir

    c.tiny_dir = Path(default_tiny_dir(progress=c.progress))
    return {"path": str(c.tiny_dir)}


def stage_matmul(c: Check) -> dict[str, Any]:
    """bf16 matmul rate on the device: n x n @ n x n, timed after a warm-up."""
    n, iters = c.profile.matmul_n, c.profile.matmul_iters
    a = torch.randn(n, n, device=c.device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=c.device, dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, b)
    c.sync()
    t = time.perf_counter()
    for _ in range(iters):
        torch.matmul(a, b)
    c.sync()
    seconds = time.perf_counter() - t
    c.matmul_tflops = 2 * n**3 * iters / seconds / 1e12
    del a, b
    free_memory()
    return {"n": n, "iters": iters, "seconds": round(seconds, 4), "tflops": float(f"{c.matmul_tflops:.4g}")}


def stage_build(c: Check) -> dict[str, Any]:
    """Random-init Llama of the profile's shape, in bf16, created on the device, saved as a checkpoint dir
    (with the tiny tokenizer) so the hf backend loads it like any model."""
    import shutil

    from transformers import AutoConfig, AutoModelForCausalLM

    tiny = _need(c.tiny_dir, "tiny")
    config = AutoConfig.from_pretrained(tiny)
    for key, value in c.profile.shape.items():
        setattr(config, key, value)
    config.head_dim = config.hidden_size // config.num_attention_heads
    config.max_position_embeddings = 4096
    t = time.perf_counter()
    torch.manual_seed(0)
    with torch.device(c.device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    c.sync()
    init_s = time.perf_counter() - t
    c.big_params = sum(p.numel() for p in model.parameters())
    out = c.work / "big_model"
    t = time.perf_counter()
    model.save_pretrained(out)
    save_s = time.perf_counter() - t
    for f in tiny.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")) or f.suffix == ".jinja":
            shutil.copy(f, out / f.name)
    del model
    free_memory()
    c.big_dir = out
    gib = sum(f.stat().st_size for f in out.glob("*.safetensors")) / 2**30
    return {"params": c.big_params, "init_s": round(init_s, 2), "save_s": round(save_s, 2), "weights_gib": round(gib, 2),
            **{k: getattr(config, k) for k in c.profile.shape}}  # fmt: skip


@contextmanager
def counted_tokens(runner: Any) -> Iterator[list[int]]:
    """Count every token position the model forwards (padding included: it is computed too)."""
    count = [0]

    def hook(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        count[0] += int(args[0].numel())

    handle = runner.model.get_input_embeddings().register_forward_pre_hook(hook)
    try:
        yield count
    finally:
        handle.remove()


def stage_load(c: Check) -> dict[str, Any]:
    """Load the built checkpoint with the hf backend (`runners.open_runner`), bf16 on the device; C-Eval and
    PPL share this runner."""
    from core.model_spec import spec_for_path
    from runners import open_runner

    c.big_spec = spec_for_path(_need(c.big_dir, "build"), name="gpu-check-random-llama")
    c.big_runner = open_runner(c.big_spec, dtype="bfloat16", device=c.profile.device)
    c.sync()
    info = c.big_runner.info
    return {"backend": info.backend, "dtype": info.dtype, "device": info.device, "n_params": info.n_params,
            "weight_gib": round(info.weight_bytes / 2**30, 2)}  # fmt: skip


def _loaded(c: Check) -> tuple[Any, Any]:
    if c.big_runner is None or c.big_spec is None:
        raise RuntimeError("needs the load stage, which did not succeed")
    return c.big_spec, c.big_runner


def _database(c: Check) -> Any:
    from db import open_db

    return open_db(f"sqlite:///{c.work / 'gpu_check.db'}")


def _suite_numbers(c: Check, outcome: Any, tokens: int) -> dict[str, Any]:
    secs = outcome.compute_s
    frac = c.floor_fraction(tokens, secs)
    return {
        "items": outcome.computed, "compute_s": round(secs, 4),
        "items_per_s": round(outcome.items_per_s, 3), "forward_tokens": tokens,
        "tokens_per_s": round(tokens / secs, 1) if secs > 0 else None,
        "floor_fraction": round(frac, 4) if frac is not None else None,
    }  # fmt: skip


def stage_ceval(c: Check) -> dict[str, Any]:
    """C-Eval val, 5-shot, synthetic items in the official layout, through the engine and the hf backend."""
    from evals.engine import execute
    from evals.suite_api import SuiteOptions

    p = c.profile
    data, subjects = write_ceval(
        c.work / "ceval", subjects=p.ceval_subjects, val_items=p.ceval_val_items, shots=p.shots
    )
    spec, runner = _loaded(c)
    opts = SuiteOptions(data=data, split="val", shots=p.shots, subjects=tuple(subjects))
    with counted_tokens(runner) as count:
        outcome = execute("ceval", opts, spec, database=_database(c), runner=runner, batch_size=p.batch_size,
                          progress=c.progress, dtype="bfloat16")  # fmt: skip
    acc = outcome.metrics.get("accuracy")
    return {**_suite_numbers(c, outcome, count[0]), "subjects": len(subjects), "shots": p.shots,
            "accuracy": acc}  # fmt: skip


def stage_ppl(c: Check) -> dict[str, Any]:
    """PPL suite, chunks mode, over a synthetic text of about `ppl_tokens` tokens, through the engine."""
    from evals.engine import execute
    from evals.suite_api import SuiteOptions
    from training.tiny import heldout_text

    p = c.profile
    spec, runner = _loaded(c)
    sample = heldout_text()
    ratio = len(runner.encode([sample], specials=False)[0]) / len(sample)
    text = write_ppl_text(c.work / "ppl.txt", tokens=p.ppl_tokens, tokens_per_char=ratio)
    opts = SuiteOptions(data=text, extra={"mode": "chunks", "context": p.ppl_context, "stride": None})
    with counted_tokens(runner) as count:
        outcome = execute("ppl", opts, spec, database=_database(c), runner=runner, batch_size=p.batch_size,
                          progress=c.progress, dtype="bfloat16")  # fmt: skip
    m = outcome.metrics
    out = _suite_numbers(c, outcome, count[0])
    scored = int(m.get("scored_tokens") or m.get("scored") or 0)
    out.update({"ppl": m.get("ppl"), "n_ctx": m.get("n_ctx"), "text_tokens": m.get("tokens"), "scored_tokens": scored,
                "scored_tokens_per_s": round(scored / outcome.compute_s, 1) if outcome.compute_s > 0 else None})  # fmt: skip
    return out


def stage_agreement(c: Check) -> dict[str, Any]:
    """Next-token argmax of the tiny model in bf16 vs fp32 over held-out text, every position."""
    from core.model_spec import spec_for_path
    from runners import open_runner
    from training.tiny import heldout_text

    spec = spec_for_path(_need(c.tiny_dir, "tiny"))
    ids: list[int] | None = None
    argmax: dict[str, torch.Tensor] = {}
    logp: dict[str, torch.Tensor] = {}
    for dtype in ("float32", "bfloat16"):
        runner: Any = open_runner(spec, dtype=dtype, device=c.profile.device)
        try:
            if ids is None:
                ids = runner.encode([heldout_text()], specials=False)[0]
            n = min(c.profile.agree_windows, len(ids) // 128)
            batch = torch.tensor([ids[i * 128 : (i + 1) * 128] for i in range(n)], device=c.device)
            with torch.no_grad():
                logits = runner.model(input_ids=batch).logits.float()
            argmax[dtype] = logits.argmax(-1).cpu()
            logp[dtype] = torch.log_softmax(logits, -1).cpu()
        finally:
            runner.close()
    same = (argmax["float32"] == argmax["bfloat16"]).float()
    diff = (logp["float32"] - logp["bfloat16"]).abs()
    return {"positions": int(same.numel()), "agreement": round(float(same.mean()), 5),
            "max_abs_logprob_diff": round(float(diff.max()), 4)}  # fmt: skip


def _train_data(c: Check) -> tuple[Any, list[list[int]], list[list[int]]]:
    from training.common import load_for_training, resolve_base
    from training.data import pack_corpus
    from training.tiny import heldout_text

    model, tok, _grew = load_for_training(resolve_base(_need(c.tiny_dir, "tiny")), notes=[])
    enc = pack_corpus(tok, [heldout_text()], c.profile.train_block)
    n = c.profile.train_sequences
    return (model, tok), enc.input_ids[:n], enc.labels[:n]


def _train_params(c: Check) -> Any:
    from training.configs import TrainParams

    n = c.profile.train_sequences
    return TrainParams(learning_rate=1e-3, batch_size=n, grad_accum=1, max_length=c.profile.train_block, steps=c.profile.train_steps,
                       warmup_ratio=0.0, seed=0)  # fmt: skip


def _losses(curve: list[list[float]], result: Any) -> dict[str, Any]:
    losses = [float(x[1]) for x in curve]
    return {"steps": result.steps, "losses": losses, "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None, "seconds": round(result.seconds, 3),
            "tokens_per_s": round(result.tokens_per_s, 1), "engine": result.engine}  # fmt: skip


def stage_lora(c: Check) -> dict[str, Any]:
    """LoRA (r=8 on every Llama projection) on the tiny model with bf16 base weights, `train_torch`."""
    from training.common import apply_lora, count_params
    from training.configs import LoraParams
    from training.loop import train_torch

    (model, tok), ids, labels = _train_data(c)
    model = model.to(torch.bfloat16)
    model, _mts = apply_lora(model, replace(LoraParams(), r=8, alpha=16, dropout=0.0), False)
    total, trainable = count_params(model)
    result = train_torch(model, ids, labels, _train_params(c), pad_id=tok.pad_token_id, label="lora-bf16",
                         progress=c.progress)  # fmt: skip
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters() if not p.requires_grad})
    return {**_losses(result.loss_curve, result), "trainable_params": trainable, "total_params": total,
            "base_dtypes": dtypes, "device": str(next(model.parameters()).device)}  # fmt: skip


def deepspeed_config(c: Check) -> Path:
    """Our ZeRO-2 config with DeepSpeed's torch AdamW (its fused Adam would be built with nvcc at start-up)."""
    from training.configs import DEEPSPEED_CONFIGS

    cfg = json.loads(DEEPSPEED_CONFIGS["zero2"].read_text(encoding="utf-8"))
    cfg["optimizer"]["params"]["torch_adam"] = True
    path = c.work / "deepspeed" / "ds_zero2.json"  # the name the Trainer's engine label is read from
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stage_deepspeed(c: Check) -> dict[str, Any]:
    """Full fine-tuning of the tiny model, `train_trainer` + DeepSpeed ZeRO-2, one process (world size 1)."""
    # DeepSpeed initialises torch.distributed from these (otherwise it looks for MPI).
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    import deepspeed

    if c.device.type == "cpu":
        # World size 1 has nothing to all-reduce; on CPU DeepSpeed would otherwise g++-compile its shared-memory
        # all-reduce kernel at start-up (a minute or more on a small machine, cached afterwards).
        # (import_module: `import deepspeed.comm.torch as m` would bind the `torch` that deepspeed.comm imports)
        import importlib

        importlib.import_module("deepspeed.comm.torch").build_shm_op = lambda: None

    from training.loop import train_trainer

    (model, tok), ids, labels = _train_data(c)
    result = train_trainer(model, ids, labels, _train_params(c), pad_id=tok.pad_token_id,
                           output_dir=c.work / "ds_trainer", deepspeed_config=deepspeed_config(c),
                           progress=c.progress)  # fmt: skip
    stage = None
    if result.trainer is not None and getattr(result.trainer, "deepspeed", None) is not None:
        stage = result.trainer.deepspeed.zero_optimization_stage()
        bf16 = bool(result.trainer.deepspeed.bfloat16_enabled())
    else:
        bf16 = False
    result.trainer = None
    free_memory()
    return {**_losses(result.loss_curve, result), "deepspeed": deepspeed.__version__, "zero_stage": stage,
            "bf16": bf16}  # fmt: skip


def _need(value: Path | None, stage: str) -> Path:
    if value is None:
        raise RuntimeError(f"needs the {stage} stage, which did not succeed")
    return value


STAGES: dict[str, Callable[[Check], dict[str, Any]]] = {
    "tiny": stage_tiny,
    "matmul": stage_matmul,
    "build": stage_build,
    "load": stage_load,
    "ceval": stage_ceval,
    "ppl": stage_ppl,
    "agreement": stage_agreement,
    "lora": stage_lora,
    "deepspeed": stage_deepspeed,
}
