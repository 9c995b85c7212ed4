"""GGUF files for the hf backend: transformers reads the file (`gguf_file=`) and dequantizes every tensor
to the requested dtype, so a Q8_0 or Q4_K_M model runs as an ordinary torch model whose numbers carry
the quantization error (its speed is the dequantized model's, not llama.cpp's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runners.errors import ModelLoadError


def is_gguf(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(".gguf")


def source(path: Path) -> tuple[Path, dict[str, Any]]:
    """(what to pass to from_pretrained, extra kwargs): a GGUF file becomes its dir + `gguf_file=name`."""
    if not is_gguf(path):
        return path, {}
    try:
        import gguf  # noqa: F401  (transformers needs it to read the tensors)
    except ImportError:
        raise ModelLoadError(f"loading {path.name} needs the gguf package (pip install 'leitai[gguf]')") from None
    return path.parent, {"gguf_file": path.name}
