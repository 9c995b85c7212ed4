"""Hugging Face transformers backend: `HFRunner` implements the `Runner` protocol of runners/base.py.

Numerics live in small helpers: `_scoring` (choice scores), `_kv_prefix` (shared few-shot prefix
reuse), `_forward` (forward passes that keep only the needed logits), `_generate` (decoding),
`windows` (rolling-window plans).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import torch

from runners import _generate
from runners._batching import length_sorted_batches, pad
from runners._forward import last_logits, target_logprobs
from runners._kv_prefix import KV, PrefixGroup, plan_prefix_groups, run_prefix, suffix_batches, suffix_last_logits
from runners._loading import (
    apply_adapter,
    check_causal_lm,
    load_model,
    load_tokenizer,
    resolve_device,
    resolve_dtype,
    weight_stats,
)
from runners._progress import progress_bar
from runners._quant import check_quant, describe
from runners._scoring import score_rows
from runners._text import TokenText
from runners.base import ChoiceScoring, GenParams, ModelInfo, Runner, TokenWindow
from runners.errors import ModelLoadError


class HFRunner:
    """A local causal LM run with transformers (one device, eval mode, no gradients).

    Attributes:
        info: what was loaded (stored with every run).
        model: the `transformers` causal LM, for suites that need it directly.
        tokenizer: its tokenizer; never modified by the runner.
        text: the text -> token layer shared with the vllm backend (runners/_text.py).
        device: where the model lives.
        prefix_cache_size: how many shared-prefix KV caches `choice_logprobs` keeps between calls
            (keyed by the exact prefix token ids; 0 = none). The MC suites call it once per chunk of a
            subject, so keeping the last prefix saves recomputing it for every chunk.
        stats: counters, e.g. {"prefix_hits": ..., "prefix_misses": ...} (a miss = one prefix forward).
    """

    backend = "hf"
    prefix_cache_size: int = 1

    def __init__(
        self,
        model_path: str,
        *,
        name: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        quant: str = "none",
        max_length: int | None = None,
        trust_remote_code: bool = False,
        adapter_path: str | None = None,
    ) -> None:
        """Load a model directory.

        Args:
            model_path: a local Hugging Face model directory (config.json, weights, tokenizer).
            name: display name; defaults to the directory name.
            dtype: "auto" (fp32 on CPU; bf16 on CUDA where supported, else fp16), or
                float32/bfloat16/float16 (fp32/bf16/fp16).
            device: "auto" (cuda if available, else cpu) or a torch device string.
            quant: "none", "int8" or "int4": bitsandbytes on CUDA (LLM.int8 / NF4), optimum-quanto
                weight-only on CPU (see runners._quant); `info.weight_bytes` is then the quantized size.
            max_length: context length to report and to use for truncation; defaults to the config's
                max_position_embeddings.
            trust_remote_code: allow the model's own modelling code.
            adapter_path: a peft LoRA adapter dir to apply on top of `model_path` (merged on load).

        Raises:
            ModelLoadError: one line saying what is wrong (missing path, not a causal LM, unsupported
                quantization, unloadable weights or tokenizer).
        """
        path = Path(model_path).expanduser()
        self.device = resolve_device(device)
        check_quant(quant, self.device)  # one line naming what this device supports
        config = check_causal_lm(path, trust_remote_code)
        torch_dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = load_tokenizer(path, trust_remote_code)
        if adapter_path and quant != "none" and self.device.type == "cuda":
            raise ModelLoadError(
                f"{quant} on CUDA cannot merge a LoRA adapter into quantized weights; "
                "merge it first (evals train merge) and quantize the merged model"
            )
        # LoRA model: merge the adapter into full-precision weights first, then quantize (CPU).
        load_quant = "none" if adapter_path else quant
        self.model = load_model(path, torch_dtype, self.device, trust_remote_code, quant=load_quant)
        if adapter_path:
            self.model, self.tokenizer = apply_adapter(
                self.model, self.tokenizer, Path(adapter_path), trust_remote_code
            )
            if quant != "none":
                from runners import _quant

                _quant.quantize_cpu(self.model, quant)

        tok = self.tokenizer
        self.text = TokenText(tok, source=str(path))
        # The tokenizer keeps its own pad_token (possibly None) so nothing downstream changes meaning.
        self._pad_id = self.text.pad_id
        self.bos_token_id: int = self.text.bos_token_id

        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        n_params, n_bytes = weight_stats(self.model)
        self.info = ModelInfo(
            name=name or path.resolve().name,
            path=str(path.resolve()),
            backend=self.backend,
            dtype=str(torch_dtype).removeprefix("torch."),
            quantization=quant,
            device=str(self.device),
            n_params=n_params,
            weight_bytes=n_bytes,
            vocab_size=len(tok),
            max_length=max_length or getattr(text_config, "max_position_embeddings", None) or 2048,
            has_chat_template=bool(getattr(tok, "chat_template", None)),
            extra={"architectures": list(getattr(config, "architectures", None) or []),
                   "model_type": config.model_type,
                   "config_vocab_size": getattr(text_config, "vocab_size", None),
                   **({"quant_method": describe(quant, self.device)} if quant != "none" else {})},
        )  # fmt: skip
        self._reuse_limit = _sliding_window(text_config)
        # Shared-prefix KV caches kept across choice_logprobs calls: prefix ids -> per-layer (1, H_kv, P, D).
        # The tensors are only ever read (suffix passes concatenate into new storage).
        self._prefix_cache: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self._prefix_cache_owner: tuple[int, str] | None = None
        self.stats: dict[str, int] = {"prefix_hits": 0, "prefix_misses": 0}

    def __repr__(self) -> str:
        return f"HFRunner({self.info.name!r}, dtype={self.info.dtype}, device={self.info.device})"

    # ------------------------------------------------------------------ tokens

    def count_tokens(self, text: str) -> int:
        """Number of tokens of `text` as the model sees it, with the tokenizer's default specials (BOS)."""
        return self.text.count(text)

    def encode(self, texts: Sequence[str], *, specials: bool = True) -> list[list[int]]:
        return self.text.encode(texts, specials=specials)

    def decode(self, ids: Sequence[int]) -> str:
        return self.text.decode(ids)

    def close(self) -> None:
        """Drop the cached KV prefixes; the weights go with the last reference to the runner."""
        self.clear_prefix_cache()

    # ------------------------------------------------------------------ choices

    @torch.inference_mode()
    def choice_logprobs(
        self,
        prompts: Sequence[str],
        choices: Sequence[str],
        *,
        scoring: ChoiceScoring = "logprob",
        prefixes: Sequence[str | None] | None = None,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[dict[str, float]]:
        """Score each choice as the next token after each prompt (see `Runner.choice_logprobs`).

        Prompts are tokenized whole with the tokenizer's defaults (BOS added) and never truncated.
        With `prefixes`, prompts sharing a hint have the KV cache of their common token prefix
        computed once (groups of >= 2 sharing >= 8 tokens); results equal the no-reuse path up to
        float rounding (< 1e-4 in fp32).
        """
        if prefixes is not None and len(prefixes) != len(prompts):
            raise ValueError(f"{len(prefixes)} prefixes for {len(prompts)} prompts")
        choice_ids = self.text.choice_ids(choices, scoring)
        ids = self.text.prompts(prompts)
        if prefixes is None:
            groups: list[PrefixGroup] = []
            rest = list(range(len(ids)))
        else:
            groups, rest = plan_prefix_groups(ids, prefixes, max_total=self._reuse_limit)
        results: list[dict[str, float]] = [{} for _ in ids]

        def store(idx: list[int], logits: torch.Tensor) -> None:
            # cla2's repetition penalty uses the FULL prompt ids, also when only the suffix ran.
            for i, scores in zip(idx, score_rows(logits, [ids[i] for i in idx], choice_ids, scoring), strict=True):
                results[i] = scores

        with progress_bar(len(ids), "choices", progress) as advance:
            # 1) prompts without a reusable prefix: right-padded batches, logits at each last real token.
            for batch in length_sorted_batches([len(ids[i]) for i in rest], batch_size):
                idx = [rest[j] for j in batch]
                input_ids, mask = pad([ids[i] for i in idx], self._pad_id, "right", self.device)  # (B, T)
                last = torch.tensor([len(ids[i]) - 1 for i in idx], device=self.device)  # (B,)
                store(idx, last_logits(self.model, input_ids, mask, last))
                advance(len(idx))
            # 2) prefix groups: the shared prefix once (batch 1, or cached from the previous call), then
            #    the suffixes in batches sized by a token budget (suffix rows are short).
            for group in groups:
                n_prefix, kv = self._prefix_kv(group.prefix)  # per layer (1, H_kv, P, D); read only
                members = list(group.members)
                for batch in suffix_batches([len(ids[i]) - n_prefix for i in members], n_prefix, batch_size):
                    idx = [members[j] for j in batch]
                    suffixes = [ids[i][n_prefix:] for i in idx]
                    store(idx, suffix_last_logits(self.model, kv, suffixes, self._pad_id, self.device))
                    advance(len(idx))
                del kv
        return results

    def _prefix_kv(self, prefix: tuple[int, ...]) -> tuple[int, KV]:
        """(P, KV of prefix[:P]) for a group whose shared prefix is `prefix`.

        From the small LRU of earlier calls when a cached prefix equals `prefix` or is a prefix of it
        and nearly as long (another chunk of the same subject whose prompts happen to share a few more
        tokens); else one batch-1 forward pass over `prefix`. Positions P.. then run as suffix tokens.
        """
        owner = (id(self.model), str(self.device))
        if owner != self._prefix_cache_owner:  # model swapped or moved: nothing cached is valid
            self._prefix_cache.clear()
            self._prefix_cache_owner = owner
        slack = max(16, len(prefix) // 8)  # extra suffix tokens worth running instead of a new prefix pass
        for cached in reversed(self._prefix_cache):  # most recent first
            if len(prefix) - slack <= len(cached) <= len(prefix) and prefix[: len(cached)] == cached:
                self._prefix_cache.move_to_end(cached)
                self.stats["prefix_hits"] += 1
                return len(cached), self._prefix_cache[cached]
        self.stats["prefix_misses"] += 1
        kv = run_prefix(self.model, prefix, self.device)
        if self.prefix_cache_size > 0:
            self._prefix_cache[prefix] = kv
            while len(self._prefix_cache) > self.prefix_cache_size:
                self._prefix_cache.popitem(last=False)
        return len(prefix), kv

    def clear_prefix_cache(self) -> None:
        """Drop the shared-prefix KV caches kept between `choice_logprobs` calls (frees their memory)."""
        self._prefix_cache.clear()

    # ------------------------------------------------------------------ likelihoods

    def loglikelihood(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8, progress: bool = False
    ) -> list[tuple[float, bool]]:
        """Sum of log-probs of each continuation given its context, and whether greedy decoding yields it.

        The context is tokenized with the tokenizer's defaults (BOS, as `choice_logprobs` does), the
        continuation separately without special tokens, and the ids are concatenated. Tokenizing them
        apart keeps the continuation's tokens the same whatever the context (so "A" is always the
        same piece); the price is that a piece merging across the boundary is never seen.

        Args:
            pairs: (context, continuation) texts.
            batch_size: sequences per forward pass.
            progress: show a progress bar.

        Returns:
            (sum of log-probs, is_greedy) per pair; an empty continuation gives (0.0, True).
        """
        windows = self.text.pair_windows(pairs, self.info.max_length)
        return self._sum_pairs(windows, batch_size=batch_size, progress=progress)

    def loglikelihood_tokens(
        self,
        pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
        *,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[tuple[float, bool]]:
        """`loglikelihood` on token ids: (context ids, continuation ids) per pair.

        An empty context becomes [BOS]; a sequence longer than `info.max_length` loses context tokens
        from the left (the continuation itself must fit).
        """
        windows = self.text.id_pair_windows(pairs, self.info.max_length)
        return self._sum_pairs(windows, batch_size=batch_size, progress=progress)

    def _sum_pairs(
        self, windows: Sequence[TokenWindow], *, batch_size: int, progress: bool
    ) -> list[tuple[float, bool]]:
        scored = self.token_logprobs(windows, batch_size=batch_size, progress=progress, with_greedy=True)
        return [(float(lp.double().sum()), bool(greedy.all())) for lp, greedy in scored]

    @overload
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: Literal[False] = False,
    ) -> list[torch.Tensor]: ...
    @overload
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: Literal[True],
    ) -> list[tuple[torch.Tensor, torch.Tensor]]: ...
    @torch.inference_mode()
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: bool = False,
    ) -> list[torch.Tensor] | list[tuple[torch.Tensor, torch.Tensor]]:
        """Log-probabilities of the tail of token windows: the low-level verb behind loglikelihood and PPL.

        Each window is (ids, first_scored): the model reads `ids` (one forward pass, no BOS added)
        and returns log p(ids[j] | ids[:j]) for j = first_scored .. len(ids) - 1. The PPL suite's
        llama.cpp chunk mode is then

            chunk = [bos_token_id] + tokens[k*n_ctx + 1 : (k+1)*n_ctx];  first_scored = n_ctx // 2 + 1

        and `rolling_loglikelihood` is `runners.windows.rolling_windows` fed through here.

        Args:
            windows: (token ids, first scored position >= 1) per window.
            batch_size: windows per forward pass (length-sorted, right-padded).
            progress: show a progress bar.
            with_greedy: also return whether each scored token is the argmax prediction.

        Returns:
            Per window a float32 CPU tensor (n,) of log-probs, or (log-probs, is_greedy) pairs when
            `with_greedy`; an empty tail gives empty tensors.
        """
        empty = (torch.zeros(0), torch.zeros(0, dtype=torch.bool))
        out: list[tuple[torch.Tensor, torch.Tensor]] = [empty] * len(windows)
        todo = [i for i, (ids, first) in enumerate(windows) if first < len(ids)]
        for i, (_, first) in enumerate(windows):
            if first < 1:
                raise ValueError(f"window {i}: first_scored must be >= 1 (position 0 has no prediction)")
        with progress_bar(len(todo), "tokens", progress) as advance:
            for batch in length_sorted_batches([len(windows[i][0]) for i in todo], batch_size):
                idx = [todo[j] for j in batch]
                seqs = [list(windows[i][0]) for i in idx]
                input_ids, mask = pad(seqs, self._pad_id, "right", self.device)  # (B, T)
                scored = target_logprobs(
                    self.model,
                    input_ids,
                    mask,
                    [len(s) for s in seqs],
                    [windows[i][1] for i in idx],
                    with_greedy=with_greedy,
                )
                for i, (logprobs, greedy) in zip(idx, scored, strict=True):
                    out[i] = (logprobs, empty[1] if greedy is None else greedy)
                advance(len(idx))
        return out if with_greedy else [lp for lp, _ in out]

    def rolling_loglikelihood(
        self,
        texts: Sequence[str],
        max_length: int,
        stride: int | None = None,
        *,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[tuple[float, int]]:
        """Sliding-window log-likelihood of whole texts: (sum of log-probs, number of scored tokens).

        Tokens are [BOS] + tokenize(text, no specials) (EOS stands in for a missing BOS); windows as
        `runners.windows.rolling_windows` (every token after BOS scored exactly once).
        """
        if max_length > self.info.max_length:
            raise ValueError(f"max_length {max_length} exceeds the model's {self.info.max_length}")
        windows, owner = self.text.rolling_windows(texts, max_length, stride)
        sums = [0.0] * len(texts)
        counts = [0] * len(texts)
        scored = self.token_logprobs(windows, batch_size=batch_size, progress=progress)
        for t, logprobs in zip(owner, scored, strict=True):
            sums[t] += float(logprobs.double().sum())
            counts[t] += logprobs.numel()
        return list(zip(sums, counts, strict=True))

    # ------------------------------------------------------------------ generation

    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[str],
        params: GenParams = GenParams(),
        *,
        chat: bool = False,
        system: str | None = None,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[str]:
        """Continue each prompt (see `Runner.generate`).

        Left-padded batches; greedy when temperature == 0, else sampling seeded with `params.seed`
        (the global RNG state is restored afterwards). The output is the decoded new tokens (special
        tokens skipped), cut before the first stop string.

        Raises:
            ValueError: `chat=True` but the model has no chat template.
        """
        ids = [self.text.generation_ids(p, chat=chat, system=system, model=self.info.name) for p in prompts]
        return _generate.generate_batches(
            self.model, self.tokenizer, ids, params, pad_id=self._pad_id, device=self.device,
            batch_size=batch_size, progress=progress,
        )  # fmt: skip

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool | None = None
    ) -> str:
        """Render chat messages with the model's own template, as a prompt for the other verbs.

        The verbs tokenize prompts with the tokenizer's defaults, which add BOS; a BOS that the
        template writes itself is therefore removed from the front of the text (only when the
        tokenizer does add one), so the model never sees two.

        Args:
            messages: [{"role": "system" | "user" | "assistant", "content": ...}, ...].
            add_generation_prompt: append the assistant-turn opener; default: when the last message
                is the user's (a history ending with an assistant turn renders as a plain prefix).

        Raises:
            ValueError: the model has no chat template.
        """
        return self.text.render_chat(messages, model=self.info.name, add_generation_prompt=add_generation_prompt)


def _sliding_window(config: Any) -> int | None:
    """Longest prompt a plain prefix cache is valid for: sliding-window attention only sees the last
    `sliding_window` tokens, so longer prompts run without prefix reuse."""
    window = getattr(config, "sliding_window", None)
    if not window or getattr(config, "use_sliding_window", True) is False:
        return None
    return int(window)


def _conforms(runner: HFRunner) -> Runner:
    """mypy checks here that `HFRunner` implements every verb of the `Runner` protocol, with its types."""
    return runner
