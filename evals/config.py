"""Run identity: the configuration that names a run and hashes itself."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Bump when anything that changes stored item results changes (prompts, scoring, parsing).
CODE_VERSION = "1"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything that determines a run's item results. Same config -> same hash -> resume.

    Batch size and progress display are left out on purpose: they never change a prediction.
    """

    suite: str
    model: str  # registered model name
    model_path: str
    backend: str = "hf"
    dtype: str = "auto"
    quant: str = "none"
    split: str = "val"
    shots: int = 0
    subjects: tuple[str, ...] = ()  # () = all subjects of the data
    limit: int | None = None  # per-subject item limit
    chat: bool = False
    template: str = "none"  # chat wrapper: none | llama2 | auto
    scoring: str = "cla2"
    prompt_version: str = ""
    data_fingerprint: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # suite-specific extras (ppl mode, tasks, ...)
    code_version: str = CODE_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["subjects"] = list(self.subjects)
        return d

    def run_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()[:16]
