"""What a GGUF file is, read from its header alone (no `gguf` package, no tensors loaded).

The layout (llama.cpp's ggml/docs/gguf.md, versions 2 and 3): magic "GGUF", uint32 version,
uint64 tensor count, uint64 metadata count, then metadata key/value pairs and tensor infos, all
little-endian. Resolving `--model x.gguf` needs only the architecture and the quantization type,
so this reads the metadata and the tensor types and stops before the tensor data.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.errors import UserError

MAGIC = b"GGUF"
# llama.cpp's `llama_ftype` (general.file_type): the quantization a file was converted to.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0",
}  # fmt: skip
# ggml tensor types, for files without general.file_type (then the commonest 2-D weight type names it).
TENSOR_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
    11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 30: "BF16",
}  # fmt: skip
FULL_PRECISION = ("F32", "F16", "BF16")
# metadata value types: fixed-size scalars by struct format; 8 = string, 9 = array
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    path: Path
    version: int
    architecture: str | None
    quant_type: str  # e.g. "Q8_0", "F16", "Q4_K_M"; "unknown" when neither file type nor tensors say
    file_bytes: int
    n_tensors: int

    def as_params(self) -> dict[str, Any]:
        """What a run and `evals models show` record about the file."""
        return {
            "file": self.path.name, "quant_type": self.quant_type, "file_bytes": self.file_bytes,
            "architecture": self.architecture, "gguf_version": self.version,
        }  # fmt: skip


def is_gguf_name(path: Path) -> bool:
    return path.name.lower().endswith(".gguf")


def read_gguf_header(path: Path) -> GGUFHeader:
    """Parse the metadata and tensor infos of `path`; a UserError (one line) when it is no GGUF file."""
    try:
        with path.open("rb") as f:
            if f.read(4) != MAGIC:
                raise UserError(f"{path} is not a GGUF file (no GGUF magic at its start)")
            version, n_tensors, n_kv = struct.unpack("<IQQ", _exact(f, 20))
            if version < 2:
                raise UserError(f"{path}: GGUF version {version} is too old (2 or 3 is read)")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = _string(f)
                meta[key] = _value(f, struct.unpack("<I", _exact(f, 4))[0], keep=key.startswith("general."))
            tensor_types: Counter[str] = Counter()
            for _ in range(n_tensors):
                _string(f)
                n_dims = struct.unpack("<I", _exact(f, 4))[0]
                _exact(f, 8 * n_dims)
                ggml_type, _offset = struct.unpack("<IQ", _exact(f, 12))
                if n_dims >= 2:
                    tensor_types[TENSOR_TYPES.get(ggml_type, f"type{ggml_type}")] += 1
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: truncated or corrupt GGUF header ({exc})") from None
    file_type = meta.get("general.file_type")
    if isinstance(file_type, int) and file_type in FILE_TYPES:
        quant = FILE_TYPES[file_type]
    else:
        quant = tensor_types.most_common(1)[0][0] if tensor_types else "unknown"
    arch = meta.get("general.architecture")
    return GGUFHeader(
        path=path, version=version, architecture=arch if isinstance(arch, str) else None, quant_type=quant,
        file_bytes=path.stat().st_size, n_tensors=n_tensors,
    )  # fmt: skip


def _exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError("unexpected end of file")
    return data


def _string(f: IO[bytes]) -> str:
    (n,) = struct.unpack("<Q", _exact(f, 8))
    if n > 1 << 24:  # no key or token is this long; a corrupt length would read the whole file
        raise ValueError(f"string of {n} bytes")
    return _exact(f, n).decode("utf-8")


def _value(f: IO[bytes], vtype: int, *, keep: bool) -> Any:
    """Read one metadata value; arrays (the tokenizer's vocabulary) are skipped unless `keep`."""
    if vtype in _SCALARS:
        fmt = "<" + _SCALARS[vtype]
        return struct.unpack(fmt, _exact(f, struct.calcsize(fmt)))[0]
    if vtype == _STRING:
        return _string(f)
    if vtype == _ARRAY:
        item_type, count = struct.unpack("<IQ", _exact(f, 12))
        if item_type in _SCALARS and not keep:  # skip fixed-size arrays (token scores, types) in one seek
            f.seek(count * struct.calcsize("<" + _SCALARS[item_type]), 1)
            return None
        items = [_value(f, item_type, keep=keep) for _ in range(count)]
        return items if keep else None
    raise ValueError(f"unknown metadata value type {vtype}")
