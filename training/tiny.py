"""The project's tiny Chinese Llama checkpoint, built offline from our own corpus.

It exists so that every suite, runner and test has a real (if tiny) Llama-architecture model
with a Llama-like tokenizer, without downloading anything. The build is deterministic for a
given seed and takes well under a minute on two CPU cores.

Heavy libraries (torch, transformers, tokenizers) are imported inside functions only, so that
`import training.tiny` stays cheap for the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.portable import make_portable

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    from transformers import LlamaTokenizerFast

# Bump when anything that changes the built files changes (corpus, tokenizer, model, training).
VERSION = "1"
DEFAULT_STEPS = 200
META_FILE = "leitai_tiny.json"
CACHE_ENV = "EVALS_CACHE_DIR"
RESOURCES = Path(__file__).resolve().parent / "resources"

VOCAB_SIZE = 4096
BLOCK_SIZE = 128
BATCH_SIZE = 8
# Tuned on held-out text: the corpus is tiny, so a higher LR or more steps only memorises it
# (held-out loss rises above uniform); weight decay and attention dropout delay that.
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.1
ATTENTION_DROPOUT = 0.1
WARMUP_STEPS = 20
# One intra-op thread: at this model size a second thread buys almost nothing (measured), while a
# fixed count keeps the weights bit-identical across machines and avoids OpenMP thrashing when
# the CPU is shared (tests running in parallel).
TORCH_THREADS = 1

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
# Pieces the C-Eval scorer looks up; the build fails loudly if the tokenizer lacks any of them.
REQUIRED_PIECES = ("A", "B", "C", "D", "▁A", "▁B", "▁C", "▁D")

# Llama-2 chat format (as Meta's reference code and HF's llama template render it): system
# prompt folded into the first user turn, each finished exchange closed with `</s>`.
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_message = messages[0]['content'] -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = none -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if loop.index0 == 0 -%}"
    "{{- bos_token + '[INST] ' -}}"
    "{%- if system_message is not none -%}"
    "{{- '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' -}}"
    "{%- endif -%}"
    "{%- else -%}"
    "{{- bos_token + '[INST] ' -}}"
    "{%- endif -%}"
    "{{- message['content'] + ' [/INST]' -}}"
    "{%- else -%}"
    "{{- ' ' + message['content'] + ' ' + eos_token -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Model shape: small enough to train in seconds, but the real Llama code paths (GQA, RoPE,
# untied head, long max positions for LongBench-style truncation tests).
MODEL_SHAPE: dict[str, int | float | bool] = {
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 352,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}


@dataclass(frozen=True, slots=True)
class TinyInfo:
    """What `describe_tiny` reports about a built checkpoint."""

    path: Path
    params: int
    size_bytes: int
    final_loss: float
    meta: dict[str, Any]  # Any: the checkpoint's leitai_tiny.json (free-form JSON)


# ---------------------------------------------------------------------------------------------
# Corpus


def corpus_text() -> str:
    """Return the training corpus (UTF-8 text shipped with the package)."""
    return (RESOURCES / "corpus_zh.txt").read_text(encoding="utf-8")


def heldout_text() -> str:
    """Return the held-out text (same style as the corpus, never trained on)."""
    return (RESOURCES / "heldout_zh.txt").read_text(encoding="utf-8")


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in text.split("\n\n") if p.strip()]


# ---------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(text: str, vocab_size: int = VOCAB_SIZE) -> LlamaTokenizerFast:
    """Train a SentencePiece-like byte-fallback BPE tokenizer and wrap it for transformers.

    Args:
        text: Training text; lines are the training sequences.
        vocab_size: Upper bound on the vocabulary (the corpus may support fewer merges).

    Returns:
        A `LlamaTokenizerFast` with `<unk>`=0, `<s>`=1, `</s>`=2, the 256 `<0xNN>` byte pieces
        at ids 3..258, BOS added by default and no pad token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # Metaspace turns spaces into "▁" and prepends one only at the very start (Llama legacy).
    # The extra splits mimic sentencepiece's split_by_unicode_script / split_digits, so pieces
    # never straddle Han|Latin|punctuation boundaries: "：A" ends in the bare piece "A".
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.Split(Regex(r"▁?\p{Han}+|▁?\p{P}"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 256,  # byte pieces are added afterwards
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    # Newlines are left out of training on purpose: like Llama, "\n" then encodes as <0x0A>.
    tok.train_from_iterator([line for line in text.splitlines() if line.strip()], trainer=trainer)
    tok = Tokenizer.from_str(_insert_byte_pieces(tok.to_str()))

    fast = LlamaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        add_bos_token=True,
        add_eos_token=False,
        legacy=True,
        clean_up_tokenization_spaces=False,
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
    )
    fast.chat_template = CHAT_TEMPLATE
    missing = [p for p in REQUIRED_PIECES if fast.convert_tokens_to_ids(p) in (None, fast.unk_token_id)]
    if missing:
        raise RuntimeError(f"tokenizer lacks required pieces {missing}; the corpus must contain them")
    return fast


def _insert_byte_pieces(tokenizer_json: str) -> str:
    """Renumber the vocabulary Llama-style: specials, then <0x00>..<0xFF>, then learned pieces.

    Merges are stored as strings, so renumbering the vocab leaves them valid.
    """
    data = json.loads(tokenizer_json)
    vocab: dict[str, int] = data["model"]["vocab"]
    ordered = sorted(vocab, key=vocab.__getitem__)
    specials = [t for t in ordered if t in SPECIAL_TOKENS]
    learned = [t for t in ordered if t not in SPECIAL_TOKENS]
    pieces = specials + [f"<0x{b:02X}>" for b in range(256)] + learned
    data["model"]["vocab"] = {p: i for i, p in enumerate(pieces)}
    new_ids = data["model"]["vocab"]
    for added in data["added_tokens"]:
        added["id"] = new_ids[added["content"]]
    return json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Training


def _encode_corpus(tok: LlamaTokenizerFast, text: str) -> list[int]:
    """Each paragraph as `<s> ... </s>`, concatenated (the usual packed pre-training stream)."""
    ids: list[int] = []
    for para in _paragraphs(text):
        ids.extend(tok(para).input_ids)
        ids.append(tok.eos_token_id)
    return ids


@contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Use `threads` intra-op threads and deterministic kernels, restoring both afterwards."""
    import torch

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def _train(
    model: torch.nn.Module, ids: list[int], heldout_ids: list[int], *, steps: int, seed: int, progress: bool
) -> dict[str, float | list[float]]:
    """Causal-LM training on random blocks of the packed stream; returns loss statistics."""
    import math

    import torch

    data = torch.tensor(ids, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95), weight_decay=WEIGHT_DECAY)

    def lr_at(step: int) -> float:
        # Linear warmup then cosine decay to 10%: stable for a model this small at a high LR.
        if step < WARMUP_STEPS:
            return (step + 1) / WARMUP_STEPS
        t = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses: list[float] = []
    heldout_before = _eval_loss(model, heldout_ids)
    model.train()
    start = time.perf_counter()
    with _progress(progress, steps) as advance:
        for step in range(steps):
            starts = torch.randint(0, len(data) - BLOCK_SIZE - 1, (BATCH_SIZE,), generator=gen)
            batch = torch.stack([data[s : s + BLOCK_SIZE] for s in starts.tolist()])
            loss = model(input_ids=batch, labels=batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            elapsed = time.perf_counter() - start
            advance(losses[-1], (step + 1) * BATCH_SIZE * BLOCK_SIZE / max(elapsed, 1e-9))
    model.eval()
    tail = losses[-10:] or [float("nan")]
    return {
        "initial_loss": losses[0] if losses else float("nan"),
        "final_loss": sum(tail) / len(tail),
        "heldout_loss_before": heldout_before,
        "heldout_loss": _eval_loss(model, heldout_ids),
        "train_seconds": round(time.perf_counter() - start, 2),
        "loss_curve": [round(x, 4) for x in losses],
    }


def _eval_loss(model: torch.nn.Module, ids: list[int]) -> float:
    """Mean next-token loss over non-overlapping blocks of `ids` (no gradient)."""
    import torch

    n = (len(ids) - 1) // BLOCK_SIZE
    if n == 0:
        return float("nan")
    x = torch.tensor(ids[: n * BLOCK_SIZE], dtype=torch.long).view(n, BLOCK_SIZE)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = float(model(input_ids=x, labels=x).loss)
    model.train(was_training)
    return loss


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[float, float], None]]:
    """Yield `advance(loss, tokens_per_s)`; draws a rich progress bar when enabled."""
    if not enabled:
        yield lambda loss, tps: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]tiny[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("{task.fields[tps]:,.0f} tok/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("train", total=total, loss=float("nan"), tps=0.0)
        yield lambda loss, tps: bar.update(task, advance=1, loss=loss, tps=tps)


# ---------------------------------------------------------------------------------------------
# Build


def build_tiny(out_dir: Path, *, steps: int = DEFAULT_STEPS, seed: int = 0, progress: bool = True) -> Path:
    """Build the tiny checkpoint (tokenizer + trained LlamaForCausalLM) into `out_dir`.

    The files are written to a temporary sibling directory and moved into place at the end, so
    an interrupted build never leaves a half checkpoint. An existing tiny checkpoint at
    `out_dir` is replaced; any other non-empty directory is refused.

    Args:
        out_dir: Target directory (may exist if empty or if it holds a tiny checkpoint).
        steps: Optimizer steps.
        seed: Seed for weight init and batch sampling; same seed -> identical weights.
        progress: Show a rich progress bar with loss and tokens/s.

    Returns:
        `out_dir`, now holding `config.json`, `model.safetensors`, tokenizer files and
        `leitai_tiny.json` (build metadata).

    Raises:
        FileExistsError: `out_dir` is a non-empty directory that is not a tiny checkpoint.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} is a file, not a directory; give a directory to build into")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / META_FILE).exists():
        raise FileExistsError(f"{out_dir} is not empty and not a tiny checkpoint; refusing to overwrite")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the checkpoint should not be
    try:
        _build_into(tmp, steps=steps, seed=seed, progress=progress)
        _move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _config_extras() -> dict[str, Any]:
    """The model shape plus the dtype recorded in config.json, kept under the 4.x key (`torch_dtype`, which
    5.x still reads) so both majors build byte-identical checkpoints."""
    return {**MODEL_SHAPE, "torch_dtype": "float32"}


def _build_into(target: Path, *, steps: int, seed: int, progress: bool) -> None:
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    t0 = time.perf_counter()
    text = corpus_text()
    with _torch_settings(TORCH_THREADS):
        tok = train_tokenizer(text)
        ids = _encode_corpus(tok, text)
        heldout_ids = tok(heldout_text()).input_ids
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=len(tok),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=None,
            attention_dropout=ATTENTION_DROPOUT,
            **_config_extras(),
        )
        model = LlamaForCausalLM(config)
        stats = _train(model, ids, heldout_ids, steps=steps, seed=seed, progress=progress)
        model.config.attention_dropout = 0.0  # training-only regularisation; saved model is plain
        model.save_pretrained(target, safe_serialization=True)
    tok.save_pretrained(target)
    make_portable(target, tok)  # the 4.x file layout, which 4.x and 5.x both load
    meta = {
        "name": f"tiny-zh-llama-v{VERSION}",
        "version": VERSION,
        "seed": seed,
        "steps": steps,
        "batch_size": BATCH_SIZE,
        "block_size": BLOCK_SIZE,
        "learning_rate": LEARNING_RATE,
        "weight_decay": WEIGHT_DECAY,
        "attention_dropout": ATTENTION_DROPOUT,
        "torch_threads": TORCH_THREADS,
        "vocab_size": len(tok),
        "params": sum(p.numel() for p in model.parameters()),
        "corpus_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "corpus_tokens": len(ids),
        **stats,
        "build_seconds": round(time.perf_counter() - t0, 2),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    for f in target.iterdir():  # some writers create 0600 files; a cache may be shared
        f.chmod(0o666 & ~_umask())
    # Written last: its presence marks a complete checkpoint.
    (target / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename `tmp` to `out_dir`, replacing an empty dir or an old tiny checkpoint."""
    old: Path | None = None
    if out_dir.exists():
        if any(out_dir.iterdir()):
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.time_ns()}")
            out_dir.rename(old)
        else:
            out_dir.rmdir()
    try:
        tmp.rename(out_dir)
    except OSError:
        # Someone else finished a build at the same path first; theirs is as good as ours.
        if not (out_dir / META_FILE).exists():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """Leitai's cache root: `$EVALS_CACHE_DIR`, else the platform user cache dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("leitai"))


def is_tiny_checkpoint(path: Path) -> bool:
    """True if `path` holds a complete tiny checkpoint (metadata written last)."""
    return (Path(path) / META_FILE).is_file()


def default_tiny_path() -> Path:
    """Where the default checkpoint lives (built or not): `<cache>/tiny-zh-llama-v<VERSION>`."""
    return cache_dir() / f"tiny-zh-llama-v{VERSION}"


def default_tiny_dir(*, progress: bool = True, rebuild: bool = False) -> Path:
    """Return the cached default checkpoint `<cache>/tiny-zh-llama-v<VERSION>`, building it once.

    Concurrent callers are serialised with a file lock; the build itself is atomic.

    Args:
        progress: Show the progress bar if a build is needed.
        rebuild: Build again even if the cached checkpoint exists.

    Returns:
        Path of the checkpoint directory.
    """
    target = default_tiny_path()
    if is_tiny_checkpoint(target) and not rebuild:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.with_name(target.name + ".lock")):
        # Re-check under the lock: another process may have built it while we waited.
        if rebuild or not is_tiny_checkpoint(target):
            _remove_leftovers(target)
            build_tiny(target, progress=progress)
    return target


def _remove_leftovers(target: Path) -> None:
    """Delete temp/old dirs of `target` left by killed builds (safe: we hold the lock)."""
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for stale in target.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        from filelock import FileLock
    except ImportError:  # filelock comes with transformers; without it the rename stays tolerant
        yield
        return
    with FileLock(str(path)):
        yield


def describe_tiny(path: Path) -> TinyInfo:
    """Summarise a built checkpoint from its metadata and files (no torch import).

    Args:
        path: Checkpoint directory.

    Returns:
        Parameter count, total size on disk, final training loss and the full metadata.
    """
    path = Path(path)
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return TinyInfo(
        path=path, params=int(meta["params"]), size_bytes=size, final_loss=float(meta["final_loss"]), meta=meta
    )
