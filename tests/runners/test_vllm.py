"""`--backend vllm` on the tiny checkpoint, against the hf backend on the same weights.

Needs vLLM and a CUDA GPU; elsewhere every test skips with the reason. The tiny model is fp32 on
both sides so the numbers can be compared tightly.
"""

from __future__ import annotations

import importlib.util

import pytest

from runners.base import GenParams

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM not installed (pip install 'leitai[vllm]' on a CUDA machine)", allow_module_level=True)
import torch  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("CUDA not available: the vllm backend needs a GPU", allow_module_level=True)

PROMPT = "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n宪法是什么？\nA. 根本法\nB. 普通法\nC. 习惯\nD. 判例\n答案："


@pytest.fixture(scope="module")
def vrunner(runner_model_dir):
    from runners.vllm_backend import VLLMRunner

    return VLLMRunner(str(runner_model_dir), dtype="float32", gpu_memory_utilization=0.3, enforce_eager=True)


@pytest.fixture(scope="module")
def cuda_hf(runner_model_dir):
    from runners.hf import HFRunner

    return HFRunner(str(runner_model_dir), device="cuda", dtype="float32")


def test_choice_logprobs_agree_with_hf(vrunner, cuda_hf):
    for scoring in ("logprob", "bare_logit"):
        got = vrunner.choice_logprobs([PROMPT, "中国的首都是"], list("ABCD"), scoring=scoring)
        want = cuda_hf.choice_logprobs([PROMPT, "中国的首都是"], list("ABCD"), scoring=scoring)
        for g, w in zip(got, want):
            assert max(g, key=g.get) == max(w, key=w.get)
            if scoring == "logprob":
                assert [g[c] for c in "ABCD"] == pytest.approx([w[c] for c in "ABCD"], abs=1e-3)
    with pytest.raises(ValueError, match="--scoring logprob"):
        vrunner.choice_logprobs([PROMPT], ["A"], scoring="cla2")


def test_loglikelihood_and_rolling_agree_with_hf(vrunner, cuda_hf):
    pairs = [("中国的首都是", "北京"), (PROMPT, "A"), ("", "你好")]
    for (g, gg), (w, wg) in zip(vrunner.loglikelihood(pairs), cuda_hf.loglikelihood(pairs)):
        assert g == pytest.approx(w, abs=1e-3) and gg == wg
    texts = ["中华人民共和国成立于一九四九年。" * 8]
    for stride in (None, 20):
        (g, gn), = vrunner.rolling_loglikelihood(texts, max_length=32, stride=stride)
        (w, wn), = cuda_hf.rolling_loglikelihood(texts, max_length=32, stride=stride)
        assert gn == wn and g == pytest.approx(w, abs=1e-2)


def test_greedy_generation_agrees_with_hf(vrunner, cuda_hf):
    params = GenParams(max_new_tokens=8)
    assert vrunner.generate(["中国的首都是", "今天"], params) == cuda_hf.generate(["中国的首都是", "今天"], params)
    assert vrunner.generate(["你好"], params, chat=True) == cuda_hf.generate(["你好"], params, chat=True)


def test_ceval_cli_on_vllm(tiny_model_dir, ceval_sample_dir, tmp_path):
    from tests.evals.cli_helpers import load_json, run_cli

    outs = {}
    for backend in ("vllm", "hf"):
        out = tmp_path / f"{backend}.json"
        res = run_cli("run", "--suite", "ceval", "--model", str(tiny_model_dir), "--data", str(ceval_sample_dir),
                      "--limit", "3", "--scoring", "logprob", "--dtype", "float32", "--backend", backend,
                      "--db", f"sqlite:///{tmp_path / 'r.db'}", "--json", str(out), "--no-progress")  # fmt: skip
        assert res.returncode == 0, res.stderr
        outs[backend] = {(it["subject"], it["id"]): it["pred"] for it in load_json(out)["items"]}
    assert outs["vllm"] == outs["hf"]
