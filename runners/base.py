"""The Runner contract: a few batched verbs that turn requests into model outputs.

Runners know nothing about suites, scoring rules of a benchmark or the database.
Every verb takes a batch and returns results in request order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

if TYPE_CHECKING:
    from torch import Tensor

# How `choice_logprobs` turns last-position logits into one number per choice.
#   "cla2"       Chinese-LLaMA-Alpaca-2 constrained decoding (PROTOCOLS.md §1.5): repetition penalty
#                1.1 over every id in the prompt (logit<0 -> *1.1, else /1.1), then
#                score[X] = logit[id1] + logit[id2] with id1 = encode(X, no specials)[0] and
#                id2 = encode("：" + X)[-1] (the same id counted twice when both agree).
#   "logprob"    log-softmax at the last position; score[X] = logsumexp over the distinct {id1, id2}.
#   "bare_logit" raw logit of the bare piece X (tokenizer.convert_tokens_to_ids(X)), as official CMMLU/MMLU.
ChoiceScoring = Literal["cla2", "logprob", "bare_logit"]

# (token ids, first scored position >= 1): `token_logprobs` returns log p(ids[j] | ids[:j]) for
# j = first .. len(ids) - 1.
TokenWindow = tuple[Sequence[int], int]


@dataclass(frozen=True, slots=True)
class GenParams:
    """Sampling parameters; temperature 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 42
    # End-of-text is not allowed before this many new tokens (vLLM's `min_tokens`): answers of a known
    # length for load tests and serving benchmarks. 0 (the default) leaves the model free to stop.
    min_new_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a loaded model is; stored with every run so results stay attributable."""

    name: str
    path: str
    backend: str
    dtype: str
    quantization: str = "none"
    device: str = "cpu"
    n_params: int = 0
    weight_bytes: int = 0
    vocab_size: int = 0
    max_length: int = 2048
    has_chat_template: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Runner(Protocol):
    """Structural protocol every backend (hf, vllm, openai) satisfies: every verb a suite may call.

    All verbs are batched and return results in request order. A backend that cannot do a verb still
    has it and raises `runners.errors.VerbUnsupported` (one line naming what to use instead): callers
    never probe for verbs. tests/runners/test_protocol.py checks each backend against this class.
    """

    backend: str  # "hf" | "vllm" | "openai"
    info: ModelInfo

    # ------------------------------------------------------------------ tokens

    @property
    def bos_token_id(self) -> int:
        """The id that starts a document (BOS; EOS on tokenizers without one, e.g. Qwen)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens of `text` as the model sees it (including BOS)."""
        ...

    def encode(self, texts: Sequence[str], *, specials: bool = True) -> list[list[int]]:
        """Token ids of each text: with the tokenizer's default specials (BOS), or the bare pieces."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, special tokens left out."""
        ...

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool | None = None
    ) -> str:
        """Render chat messages with the model's template, as a prompt for the other verbs.

        A BOS the template writes is removed when the verbs' tokenization adds one anyway.
        `add_generation_prompt` defaults to "the last message is the user's".

        Raises:
            ValueError: the model has no chat template.
        """
        ...

    # ------------------------------------------------------------------ scoring

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
        """Score each choice as the next token after each prompt, one forward pass per prompt.

        Args:
            prompts: full prompt texts (the tokenizer adds BOS as it does by default).
            choices: choice labels, e.g. ("A", "B", "C", "D").
            scoring: see `ChoiceScoring`.
            prefixes: optional hint per prompt: a text that prompt starts with and that other prompts
                share (e.g. the 5-shot exemplars of a subject). Prompts with the same hint have the
                KV cache of their common *token* prefix computed once. The hint never changes a result.
            batch_size: prompts per forward pass.
            progress: show a progress bar.

        Returns:
            One `{choice: score}` dict per prompt.
        """
        ...

    def loglikelihood(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8, progress: bool = False
    ) -> list[tuple[float, bool]]:
        """Sum of log-probs of `continuation` given `context`, and whether it is the greedy continuation."""
        ...

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

        Tokens (BOS first, then the text):   t0 t1 t2 ... tN-1
        windows start at 0, s, 2s, ... and cover [start, min(start + max_length, N));
        a window scores positions max(prev_end, start + 1) .. end - 1, so every token
        after t0 is scored exactly once. A window's first token is never scored, so
        stride must be <= max_length - 1; `stride=None` means stride = max_length - 1
        (back-to-back scored spans, each window reading one token of context).
        """
        ...

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
        """Log-probabilities of the tail of token windows: the verb behind loglikelihood and PPL.

        Each window is (ids, first_scored): the model reads `ids` as given (no BOS added) and returns
        log p(ids[j] | ids[:j]) for j = first_scored .. len(ids) - 1, as a float32 CPU tensor (n,);
        with `with_greedy`, (log-probs, is_greedy) pairs, is_greedy a bool tensor (n,) saying whether
        each token is the argmax prediction. An empty tail gives empty tensors.
        """
        ...

    # ------------------------------------------------------------------ generation

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
        """Continue each prompt; with `chat=True` the prompt is the user turn of the model's chat template."""
        ...

    def close(self) -> None:
        """Release what the runner holds (vLLM engine processes, HTTP connections, cached KV prefixes)."""
        ...
