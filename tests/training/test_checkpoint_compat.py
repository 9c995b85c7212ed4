"""Checkpoints across transformers majors: the 5.x layout ("tokenizer_class": "TokenizersBackend", RoPE in
`rope_parameters`) and the 4.x layout (LlamaTokenizerFast, add_bos_token, rope_theta) both load and give the
same numbers; what Leitai writes (training.portable) is the 4.x layout, which both majors read.

`make test` runs this file in the main venv (5.x) and in `.venv-tf4` (4.57), each pointing
LEITAI_OTHER_TRANSFORMERS_PYTHON at the other, so a checkpoint written by one major is loaded by the other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import transformers
from packaging.version import Version

from training.portable import make_portable

ROOT = Path(__file__).resolve().parents[2]
TF5 = Version(transformers.__version__).major >= 5
TEXT = "中国的首都是北京。答案：A\n1234 hello world"

# Runs under the other major: the token ids and a logit checksum of each checkpoint dir given.
_PROBE = r"""
import json, sys, torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
out = {}
for d in sys.argv[2:]:
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32) if transformers.__version__ >= "4.56" \
        else AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    ids = tok(sys.argv[1])["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    out[d] = {"ids": ids, "logit_sum": float(logits.sum()), "logit_0": float(logits[-1, 0]),
              "major": int(transformers.__version__.split(".")[0]), "chat": bool(tok.chat_template)}
print(json.dumps(out))
"""


def probe(python: str, dirs: list[Path]) -> dict[str, dict]:
    res = subprocess.run(
        [python, "-c", _PROBE, TEXT, *map(str, dirs)], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def this_probe(dirs: list[Path]) -> dict[str, dict]:
    import sys

    return probe(sys.executable, dirs)


@pytest.fixture(scope="module")
def layout_5x(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint with its tokenizer saved as transformers 5 saves a generic fast tokenizer."""
    if not TF5:
        pytest.skip("the 5.x layout is written by transformers 5 (this venv has 4.x; the 5.x stage writes it)")
    from transformers import PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("layout5") / "ckpt"
    shutil.copytree(tiny_model_dir, out)
    for f in ("tokenizer_config.json", "special_tokens_map.json"):
        (out / f).unlink(missing_ok=True)
    PreTrainedTokenizerFast.from_pretrained(tiny_model_dir).save_pretrained(out)
    cfg = json.loads((out / "config.json").read_text())
    cfg.pop("rope_theta", None), cfg.pop("rope_scaling", None)
    cfg["rope_parameters"] = {"rope_theta": 10000.0, "rope_type": "default"}
    (out / "config.json").write_text(json.dumps(cfg))
    return out


def test_tiny_is_written_in_the_4x_layout(tiny_model_dir: Path) -> None:
    tok_cfg = json.loads((tiny_model_dir / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "LlamaTokenizerFast"
    assert tok_cfg["add_bos_token"] is True and tok_cfg["add_eos_token"] is False
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["rope_theta"] == 10000.0


def test_5x_layout_is_what_transformers_5_writes(layout_5x: Path) -> None:
    tok_cfg = json.loads((layout_5x / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "TokenizersBackend"
    assert "add_bos_token" not in tok_cfg


def test_5x_layout_runs_like_the_4x_layout(layout_5x: Path, tiny_model_dir: Path) -> None:
    """HFRunner on a TokenizersBackend checkpoint: same tokens, same log-likelihoods as the 4.x layout."""
    from runners.hf import HFRunner

    a, b = HFRunner(str(tiny_model_dir), device="cpu"), HFRunner(str(layout_5x), device="cpu")
    assert a.encode([TEXT]) == b.encode([TEXT]) and a.encode([TEXT])[0][0] == a.bos_token_id
    reqs = [("中国的首都是", "北京"), ("答案：", "A")]
    assert a.loglikelihood(reqs) == b.loglikelihood(reqs)


def test_make_portable_turns_5x_into_4x_layout(layout_5x: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    out = tmp_path / "ckpt"
    shutil.copytree(layout_5x, out)
    make_portable(out, AutoTokenizer.from_pretrained(out))
    tok_cfg = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tok_cfg["add_bos_token"] is True
    assert json.loads((out / "config.json").read_text())["rope_theta"] == 10000.0
    assert this_probe([out])[str(out)] == this_probe([layout_5x])[str(layout_5x)]


def test_checkpoints_load_in_the_other_major(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The tiny checkpoint built by this venv's major (and its portable 5.x-layout copy) loads under the other."""
    other = os.environ.get("LEITAI_OTHER_TRANSFORMERS_PYTHON")
    if not other:
        pytest.skip("set LEITAI_OTHER_TRANSFORMERS_PYTHON to a python with the other transformers major (make test)")
    dirs = [tiny_model_dir]
    if TF5:  # a checkpoint 5.x wrote natively, made portable as `evals train` does
        from transformers import AutoTokenizer, PreTrainedTokenizerFast

        native = tmp_path / "native5"
        shutil.copytree(tiny_model_dir, native)
        PreTrainedTokenizerFast.from_pretrained(tiny_model_dir).save_pretrained(native)
        make_portable(native, AutoTokenizer.from_pretrained(native))
        dirs.append(native)
    here, there = this_probe(dirs), probe(other, dirs)
    majors = {here[str(dirs[0])]["major"], there[str(dirs[0])]["major"]}
    assert majors == {4, 5}, f"LEITAI_OTHER_TRANSFORMERS_PYTHON has the same major as this venv: {majors}"
    for d in map(str, dirs):
        assert there[d]["ids"] == here[d]["ids"]
        assert there[d]["chat"] and here[d]["chat"]
        assert there[d]["logit_sum"] == pytest.approx(here[d]["logit_sum"], rel=1e-5)
        assert there[d]["logit_0"] == pytest.approx(here[d]["logit_0"], rel=1e-5, abs=1e-5)
