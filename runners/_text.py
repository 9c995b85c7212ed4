"""The text→token layer of the local backends (hf and vllm): how prompts, (context, continuation)
pairs, whole documents, chat messages and choice labels become token ids.

Both backends build a `TokenText` on the model's Hugging Face tokenizer and send only the ids it
returns, so every verb of one reads exactly the tokens the other reads. Pure tokenizer work: no
torch, no model.

    prompt            tokenizer defaults (BOS added when the tokenizer adds one), never truncated
    (ctx, cont)       ids(ctx, defaults) + ids(cont, no specials); empty ctx -> [BOS]; context cut
                      from the left to fit max_length; scoring starts at the first continuation id
    document          [BOS] + ids(text, no specials) (EOS stands in for a missing BOS), then
                      `runners.windows.rolling_windows`
    chat messages     the tokenizer's chat template, a leading BOS text removed when the tokenizer
                      adds BOS itself (the model never sees two)
    choice labels     see `choice_ids` (cla2 / logprob / bare_logit of runners/base.py)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners.base import ChoiceScoring, TokenWindow
from runners.errors import ModelLoadError
from runners.windows import rolling_windows


@dataclass(frozen=True, slots=True)
class ChoiceIds:
    """Token ids a choice label is read from; `ids` may hold the same id twice (cla2 counts it twice)."""

    label: str
    ids: tuple[int, ...]


class TokenText:
    """Text -> token ids for one tokenizer.

    Attributes:
        tokenizer: the Hugging Face tokenizer; never modified.
        bos_token_id: the id that starts documents and empty contexts (BOS, else EOS).
        pad_id: a valid id to pad with (padding is always masked, so which one does not matter).
        adds_bos: whether the tokenizer's defaults put BOS in front of a text.
    """

    def __init__(self, tokenizer: Any, *, source: str) -> None:
        """`source` names the model in the one-line error when the tokenizer has neither BOS nor EOS."""
        self.tokenizer = tokenizer
        tok = tokenizer
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if bos is None:
            raise ModelLoadError(f"{source}: tokenizer has neither a BOS nor an EOS token")
        self.bos_token_id = int(bos)
        ids = (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id)
        self.pad_id = int(next((i for i in ids if i is not None), 0))
        self.adds_bos = tok.bos_token_id is not None and tok("a")["input_ids"][:1] == [tok.bos_token_id]

    # ------------------------------------------------------------------ plain text

    def encode(self, texts: Sequence[str], *, specials: bool = True) -> list[list[int]]:
        """Token ids of each text: the tokenizer's defaults (BOS) when `specials`, else the bare pieces.

        Never truncated, and no warning for texts longer than the tokenizer's nominal maximum.
        """
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=specials, verbose=False)["input_ids"]
        return [[int(i) for i in ids] for ids in encoded]

    def count(self, text: str) -> int:
        """Tokens of `text` with the tokenizer's defaults (BOS included)."""
        return len(self.encode([text])[0])

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, special tokens (BOS, EOS, pad) left out."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        """Prompt ids for choice scoring: tokenizer defaults; a prompt must yield at least one id."""
        ids = self.encode(prompts)
        if any(len(x) == 0 for x in ids):
            raise ValueError("a prompt encodes to no tokens (and the tokenizer adds no BOS)")
        return ids

    # ------------------------------------------------------------------ likelihood windows

    def pair_windows(self, pairs: Sequence[tuple[str, str]], max_length: int) -> list[TokenWindow]:
        """(ids, first scored position) per (context, continuation) pair, for `token_logprobs`.

        The context is tokenized with the defaults (BOS), the continuation separately without special
        tokens, so "A" is the same piece whatever precedes it (a piece merging across the boundary is
        never seen). An empty context becomes [BOS]; a pair longer than `max_length` loses context
        tokens from the left.

        Raises:
            ValueError: a continuation alone does not fit `max_length`.
        """
        contexts = self.encode([c for c, _ in pairs])
        continuations = self.encode([x for _, x in pairs], specials=False)
        return self.id_pair_windows(list(zip(contexts, continuations, strict=True)), max_length)

    def id_pair_windows(
        self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], max_length: int
    ) -> list[TokenWindow]:
        """`pair_windows` on ids already tokenized: (context ids, continuation ids) per pair."""
        windows: list[TokenWindow] = []
        for ctx, cont in pairs:
            seq = ([*ctx] or [self.bos_token_id]) + [*cont]
            seq = seq[-max_length:]
            if len(cont) >= len(seq):
                raise ValueError(f"continuation of {len(cont)} tokens does not fit max_length={max_length}")
            windows.append((seq, len(seq) - len(cont)))
        return windows

    def document_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """[BOS] + the text's pieces (no specials) per text: what PPL and rolling likelihoods read."""
        return [[self.bos_token_id, *ids] for ids in self.encode(texts, specials=False)]

    def rolling_windows(
        self, texts: Sequence[str], max_length: int, stride: int | None
    ) -> tuple[list[TokenWindow], list[int]]:
        """Windows over each document (`runners.windows.rolling_windows`) and the text index of each."""
        windows: list[TokenWindow] = []
        owner: list[int] = []
        for t, ids in enumerate(self.document_ids(texts)):
            for start, end, first in rolling_windows(len(ids), max_length, stride):
                windows.append((ids[start:end], first - start))
                owner.append(t)
        return windows, owner

    # ------------------------------------------------------------------ chat

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(
        self, messages: Sequence[Mapping[str, str]], *, model: str, add_generation_prompt: bool | None = None
    ) -> str:
        """Chat messages rendered with the tokenizer's template, as prompt text for the other verbs.

        The verbs tokenize prompts with the defaults, which add BOS; a BOS the template writes itself
        is therefore cut from the front (only when the tokenizer adds one).

        Args:
            messages: [{"role": "system" | "user" | "assistant", "content": ...}, ...].
            model: the model's name, for the error message.
            add_generation_prompt: append the assistant-turn opener; default: when the last message is
                the user's (a history ending with an assistant turn renders as a plain prefix).

        Raises:
            ValueError: the tokenizer has no chat template.
        """
        tok = self.tokenizer
        if not self.has_chat_template:
            raise ValueError(f"model {model} has no chat template; run without chat or pick a chat model")
        if add_generation_prompt is None:
            add_generation_prompt = bool(messages) and messages[-1]["role"] == "user"
        turns = [dict(m) for m in messages]
        text = str(tok.apply_chat_template(turns, add_generation_prompt=add_generation_prompt, tokenize=False))
        if self.adds_bos and tok.bos_token and text.startswith(tok.bos_token):
            text = text[len(tok.bos_token) :]
        return text

    def generation_ids(self, prompt: str, *, chat: bool, system: str | None, model: str) -> list[int]:
        """Ids `generate` continues: the prompt, or with `chat` the user turn (after an optional system turn)."""
        if chat:
            messages = [{"role": "system", "content": system}] if system else []
            prompt = self.render_chat([*messages, {"role": "user", "content": prompt}], model=model)
        return self.encode([prompt])[0]

    # ------------------------------------------------------------------ choice labels

    def choice_ids(self, choices: Sequence[str], scoring: ChoiceScoring) -> list[ChoiceIds]:
        """Resolve each choice label to the token ids its score is built from.

        "cla2" and "logprob" use id1 = encode(X, no specials)[0] and id2 = encode("：" + X)[-1] (the
        Chinese full-width colon, with the tokenizer's default specials, exactly as CLA2 does); "logprob"
        keeps distinct ids only. "bare_logit" uses the vocabulary piece X itself.

        Raises:
            ValueError: a label has no token (empty encoding, or not a vocabulary piece for "bare_logit").
        """
        tok = self.tokenizer
        out: list[ChoiceIds] = []
        for label in choices:
            if scoring == "bare_logit":
                tid = tok.convert_tokens_to_ids(label)
                if tid is None or tid == tok.unk_token_id:
                    raise ValueError(f"choice {label!r} is not a single vocabulary piece of this tokenizer")
                out.append(ChoiceIds(label, (int(tid),)))
                continue
            first = tok.encode(label, add_special_tokens=False)
            colon = tok.encode("：" + label)
            if not first or not colon:
                raise ValueError(f"choice {label!r} encodes to no tokens")
            id1, id2 = int(first[0]), int(colon[-1])
            if scoring == "cla2":
                out.append(ChoiceIds(label, (id1, id2)))
            elif scoring == "logprob":
                # Distinct ids only: the same token must not be counted twice in a probability sum.
                out.append(ChoiceIds(label, (id1,) if id1 == id2 else (id1, id2)))
            else:
                raise ValueError(f"unknown choice scoring {scoring!r}; choose cla2, logprob or bare_logit")
        return out
