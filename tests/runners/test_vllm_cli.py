"""`evals run --backend vllm` end to end (its own module: the engines of test_vllm.py are closed
before the CLI starts another one). Skips with the reason where vLLM cannot run."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.vllm

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM not installed (pip install 'leitai[vllm]' on a CUDA machine; `make test-vllm` on a CPU one)",
                allow_module_level=True)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _usable():
    from runners.errors import ModelLoadError
    from runners.vllm_backend import check_available

    try:
        check_available()
    except ModelLoadError as exc:
        pytest.skip(str(exc))


def test_cli_data_parallel_vllm_matches_hf(tiny_model_dir, ceval_sample_dir, tmp_path):
    """The CLI path with the default protocol and `--data-parallel 2`: two workers, each its own
    raw-logit engine for cla2 (one GPU each, or on the CPU build its own cores), merged into one run
    with the predictions and scores of the hf backend."""
    import torch

    from runners.vllm_backend import check_available
    from tests.evals.cli_helpers import load_json, run_cli

    if check_available() == "cuda" and torch.cuda.device_count() < 2:
        pytest.skip("data parallel on vLLM's CUDA build needs 2 GPUs")
    docs = {}
    for backend, extra in (("vllm", ("--data-parallel", "2")), ("hf", ())):
        out = tmp_path / f"{backend}.json"
        res = run_cli("run", "--suite", "ceval", "--model", str(tiny_model_dir), "--data", str(ceval_sample_dir),
                      "--subjects", "law,computer_network", "--limit", "4", "--batch-size", "1", "--dtype", "float32",
                      "--backend", backend, *extra, "--db", f"sqlite:///{tmp_path / 'dp.db'}", "--json", str(out), "--no-progress",
                      timeout=900)  # fmt: skip
        assert res.returncode == 0, res.stderr[-2000:]
        docs[backend] = load_json(out)
    v, h = docs["vllm"], docs["hf"]
    assert v["backend"] == "vllm" and v["n_items"] == h["n_items"] == 8 and v["run_id"] != h["run_id"]
    for a, b in zip(v["items"], h["items"], strict=True):
        assert a["id"] == b["id"] and a["pred"] == b["pred"]
        assert [a["scores"][c] for c in "ABCD"] == pytest.approx([b["scores"][c] for c in "ABCD"], abs=1e-3)
