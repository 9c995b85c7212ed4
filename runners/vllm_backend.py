"""vLLM backend: `VLLMRunner` implements the `Runner` protocol on `vllm.LLM` (prefix caching on).

Scale comes from vLLM itself: `tensor_parallel_size` / `pipeline_parallel_size` split one replica
over GPUs, and `distributed_executor_backend="ray"` spans nodes of a running Ray cluster. We never
write our own distributed engine. vLLM is imported only when a runner is built.

Likelihoods come from `prompt_logprobs`: the log-prob vLLM reports for each *prompt* token given the
tokens before it. Tokenization is the HF tokenizer's (vLLM loads the same one), and requests are
sent as token ids, so every verb reads exactly the tokens `HFRunner` reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runners._scoring import choice_token_ids
from runners.base import ChoiceScoring, GenParams, ModelInfo
from runners.errors import ModelLoadError
from runners.windows import rolling_windows

_DTYPES = {"auto": "auto", "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}  # fmt: skip
_QUANT = {"none": None, "int8": "bitsandbytes", "int4": "bitsandbytes"}


def check_available() -> None:
    """Raise ModelLoadError (one line) unless vLLM is importable and CUDA is available."""
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError("vLLM not installed: pip install 'leitai[vllm]' on a CUDA machine") from exc
    import torch

    if not torch.cuda.is_available():
        raise ModelLoadError("CUDA not available: the vllm backend needs a GPU (use --backend hf on CPU)")


class VLLMRunner:
    """A local model served in-process by `vllm.LLM`.

    Attributes:
        info: what was loaded.
        llm: the `vllm.LLM` engine.
        tokenizer: the HF tokenizer vLLM uses.
    """

    backend = "vllm"

    def __init__(
        self,
        model_path: str,
        *,
        name: str | None = None,
        dtype: str = "auto",
        quant: str = "none",
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        distributed_executor_backend: str | None = None,
        gpu_memory_utilization: float = 0.9,
        max_length: int | None = None,
        seed: int = 0,
        trust_remote_code: bool = False,
        **llm_kwargs: Any,
    ) -> None:
        """Start a vLLM engine on `model_path`.

        Args:
            model_path: a local Hugging Face model directory.
            name: display name; defaults to the directory name.
            dtype: auto | float32 | bfloat16 | float16 (vLLM's own names).
            quant: "none", or "int8"/"int4" through vLLM's bitsandbytes loader.
            tensor_parallel_size: GPUs per pipeline stage.
            pipeline_parallel_size: pipeline stages (for multi-node, with Ray).
            distributed_executor_backend: None (vLLM decides), "mp" or "ray" (multi-node: start Ray
                on every node first, `ray start --head` / `ray start --address=...`).
            gpu_memory_utilization: fraction of GPU memory vLLM may take.
            max_length: max_model_len; default: the model's.
            seed: engine seed (sampling also passes `GenParams.seed` per request).
            trust_remote_code: allow the model's own code.
            llm_kwargs: passed to `vllm.LLM` unchanged.

        Raises:
            ModelLoadError: vLLM or CUDA missing, bad path/dtype/quant, or the engine fails to start.
        """
        check_available()
        from vllm import LLM

        path = Path(model_path).expanduser()
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} is not a Hugging Face model directory (no config.json)")
        if dtype not in _DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; choose {', '.join(sorted(_DTYPES))}")
        if quant not in _QUANT:
            raise ModelLoadError(f"unknown quant {quant!r}; choose none, int8 or int4")
        try:
            self.llm = LLM(
                model=str(path), tokenizer=str(path), dtype=_DTYPES[dtype], quantization=_QUANT[quant],
                enable_prefix_caching=True, tensor_parallel_size=tensor_parallel_size,
                pipeline_parallel_size=pipeline_parallel_size,
                distributed_executor_backend=distributed_executor_backend,
                gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_length, seed=seed,
                trust_remote_code=trust_remote_code, **llm_kwargs,
            )  # fmt: skip
        except Exception as exc:  # engine start-up raises many types; the user needs one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"vLLM could not load {path}: {first}") from exc
        self.tokenizer = self.llm.get_tokenizer()
        tok = self.tokenizer
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if bos is None:
            raise ModelLoadError(f"{path}: tokenizer has neither a BOS nor an EOS token")
        self.bos_token_id = int(bos)
        self._adds_bos = tok.bos_token_id is not None and tok("a")["input_ids"][:1] == [tok.bos_token_id]
        model_config = self.llm.llm_engine.model_config
        self.info = ModelInfo(
            name=name or path.resolve().name, path=str(path.resolve()), backend=self.backend,
            dtype=str(model_config.dtype).removeprefix("torch."), quantization=quant,
            device=f"cuda x{tensor_parallel_size * pipeline_parallel_size}",
            vocab_size=len(tok), max_length=int(model_config.max_model_len),
            has_chat_template=bool(getattr(tok, "chat_template", None)),
            extra={"tensor_parallel_size": tensor_parallel_size, "pipeline_parallel_size": pipeline_parallel_size,
                   "prefix_caching": True},
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"VLLMRunner({self.info.name!r}, dtype={self.info.dtype}, {self.info.device})"

    # ------------------------------------------------------------------ tokens

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def _encode(self, texts: Sequence[str], *, specials: bool = True) -> list[list[int]]:
        return [list(self.tokenizer(t, add_special_tokens=specials)["input_ids"]) for t in texts]

    def _prompt_logprobs(self, sequences: Sequence[Sequence[int]], progress: bool) -> list[list[float | None]]:
        """log p(ids[j] | ids[:j]) for every position j of each sequence (None at j = 0), in one
        `generate` call; `prompt_logprobs=0` returns the actual token's log-prob only."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(s)) for s in sequences], params,
                                    use_tqdm=progress)  # fmt: skip
        result: list[list[float | None]] = []
        for seq, out in zip(sequences, outputs, strict=True):
            row: list[float | None] = []
            for j, entry in enumerate(out.prompt_logprobs):
                row.append(None if entry is None else float(entry[seq[j]].logprob))
            result.append(row)
        return result

    # ------------------------------------------------------------------ verbs

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
        """Score each choice at the position after each prompt (see `Runner.choice_logprobs`).

        For each prompt and each distinct candidate id c, the sequence prompt_ids + [c] is scored;
        its last prompt log-prob is log p(c | prompt). Prefix caching computes the prompt once,
        so `prefixes` is not needed. "logprob" is exact (logsumexp over the choice's distinct ids,
        as HF). "bare_logit" ranks exactly as the raw logit (they differ by the log-partition
        constant of the position) but stores log-probs. "cla2" needs raw logits, which vLLM does not
        return, and raises.

        Raises:
            ValueError: scoring "cla2".
        """
        if scoring == "cla2":
            raise ValueError("--backend vllm returns log-probabilities, not raw logits: use --scoring logprob "
                             "(cla2 runs on the hf backend)")  # fmt: skip
        choice_ids = choice_token_ids(self.tokenizer, choices, scoring)
        candidates = sorted({i for c in choice_ids for i in c.ids})
        ids = self._encode(prompts)
        rows = self._prompt_logprobs([p + [c] for p in ids for c in candidates], progress)
        out: list[dict[str, float]] = []
        for k in range(len(ids)):
            lp = {c: rows[k * len(candidates) + j][-1] for j, c in enumerate(candidates)}
            out.append({ch.label: _logsumexp([lp[i] for i in ch.ids]) for ch in choice_ids})
        return out

    def loglikelihood(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8, progress: bool = False
    ) -> list[tuple[float, bool]]:
        """As `HFRunner.loglikelihood`: context with BOS, continuation without specials, concatenated.

        is_greedy needs the argmax at each continuation position; it comes from `prompt_logprobs=1`
        (the top-1 token per position alongside the actual one).
        """
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        seqs: list[list[int]] = []
        starts: list[int] = []
        for (ctx, cont), c_ids, x_ids in zip(
            pairs, self._encode([c for c, _ in pairs]), self._encode([x for _, x in pairs], specials=False), strict=True
        ):
            seq = ((c_ids or [self.bos_token_id]) + x_ids)[-self.info.max_length :]
            if len(x_ids) >= len(seq):
                raise ValueError(f"continuation of {len(x_ids)} tokens does not fit max_length={self.info.max_length}")
            seqs.append(seq)
            starts.append(len(seq) - len(x_ids))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=s) for s in seqs], params, use_tqdm=progress)
        results: list[tuple[float, bool]] = []
        for seq, start, out in zip(seqs, starts, outputs, strict=True):
            total, greedy = 0.0, True
            for j in range(start, len(seq)):
                entry = out.prompt_logprobs[j]  # {token_id: Logprob(logprob, rank, ...)}
                total += float(entry[seq[j]].logprob)
                greedy = greedy and entry[seq[j]].rank == 1
            results.append((total, greedy))
        return results

    def rolling_loglikelihood(
        self,
        texts: Sequence[str],
        max_length: int,
        stride: int | None = None,
        *,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[tuple[float, int]]:
        """As `HFRunner.rolling_loglikelihood`: [BOS] + text tokens, windows of
        `runners.windows.rolling_windows`, each window's tail read from its prompt log-probs."""
        if max_length > self.info.max_length:
            raise ValueError(f"max_length {max_length} exceeds the model's {self.info.max_length}")
        windows: list[tuple[list[int], int]] = []
        owner: list[int] = []
        for t, ids in enumerate(self._encode(texts, specials=False)):
            ids = [self.bos_token_id, *ids]
            for start, end, first in rolling_windows(len(ids), max_length, stride):
                windows.append((ids[start:end], first - start))
                owner.append(t)
        sums, counts = [0.0] * len(texts), [0] * len(texts)
        rows = self._prompt_logprobs([w for w, _ in windows], progress)
        for t, (_, first), row in zip(owner, windows, rows, strict=True):
            tail = [v for v in row[first:] if v is not None]
            sums[t] += math.fsum(tail)
            counts[t] += len(tail)
        return list(zip(sums, counts, strict=True))

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
        """Continue each prompt; with `chat=True` the model's chat template wraps it (as HFRunner)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        sampling = SamplingParams(
            max_tokens=params.max_new_tokens, temperature=params.temperature, top_p=params.top_p,
            top_k=params.top_k if params.top_k > 0 else -1, repetition_penalty=params.repetition_penalty,
            stop=list(params.stop) or None, seed=params.seed, skip_special_tokens=True,
        )  # fmt: skip
        ids = []
        for prompt in prompts:
            if chat:
                messages = [{"role": "system", "content": system}] if system else []
                prompt = self.apply_chat_template([*messages, {"role": "user", "content": prompt}])
            ids.append(TokensPrompt(prompt_token_ids=list(self.tokenizer(prompt)["input_ids"])))
        outputs = self.llm.generate(ids, sampling, use_tqdm=progress)
        return [out.outputs[0].text for out in outputs]

    def apply_chat_template(self, messages: list[dict[str, str]], *, add_generation_prompt: bool | None = None) -> str:
        """Render chat messages with the model's template, BOS stripped as `HFRunner.apply_chat_template`."""
        tok = self.tokenizer
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"model {self.info.name} has no chat template; run without chat or pick a chat model")
        if add_generation_prompt is None:
            add_generation_prompt = bool(messages) and messages[-1]["role"] == "user"
        text = tok.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
        if self._adds_bos and tok.bos_token and text.startswith(tok.bos_token):
            text = text[len(tok.bos_token) :]
        return text


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(math.fsum(math.exp(v - top) for v in values))
