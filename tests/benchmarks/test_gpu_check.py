"""`benchmarks/gpu_check.sh --cpu-smoke`: every stage of the GPU check, end to end through our real code, with a
small model on CPU (the GPU run itself needs a CUDA host: see benchmarks/RESULTS.md "GPU check")."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check
from benchmarks import gpu_check_stages as S

ROOT = Path(__file__).resolve().parents[2]
ALL_STAGES = ["tiny", "matmul", "build", "load", "ceval", "ppl", "agreement", "lora", "deepspeed"]


@pytest.fixture(autouse=True)
def _contained(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs install no wheel (`--no-wheels`): DeepSpeed on the path would change how transformers
    imports in every later test. The environment variable main sets is undone after each test too."""
    monkeypatch.setenv("DS_ACCELERATOR", os.environ.get("DS_ACCELERATOR", "cpu"))
    monkeypatch.setattr(sys, "path", [*sys.path])


@pytest.mark.slow
def test_cpu_smoke_runs_every_stage_with_sane_numbers(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke", "--out", str(out),
         "--site", str(tmp_path / "site")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    st = doc["stages"]
    assert list(st) == ALL_STAGES
    assert all(s["status"] == "ok" for s in st.values()), {k: s.get("error") for k, s in st.items()}
    assert doc["ok"] is True and doc["env"]["mode"] == "cpu-smoke" and doc["total_s"] > 0
    assert "| ceval | ok |" in done.stdout  # the table

    assert st["matmul"]["tflops"] > 0
    assert st["build"]["params"] == st["load"]["n_params"] > 0 and st["load"]["dtype"] == "bfloat16"
    # 2 subjects x 4 val items, 5-shot: every item scored once, the accuracy a fraction
    assert st["ceval"]["items"] == 8 and st["ceval"]["items_per_s"] > 0 and 0 <= st["ceval"]["accuracy"] <= 1
    for name in ("ceval", "ppl"):
        assert st[name]["forward_tokens"] > 0 and st[name]["tokens_per_s"] > 0
        # The floor fraction is 2 x params x tokens at the measured matmul rate over the time taken (its
        # size is a timing, so it is not asserted: a busy box can slow the matmul probe more than the run).
        floor_s = 2 * st["load"]["n_params"] * st[name]["forward_tokens"] / (st["matmul"]["tflops"] * 1e12)
        assert st[name]["floor_fraction"] == pytest.approx(floor_s / st[name]["compute_s"], rel=0.02, abs=2e-4)
    # chunks of 256 (llama.cpp): positions 129..255 of every chunk are scored
    chunks, rest = divmod(st["ppl"]["forward_tokens"], 256)
    assert st["ppl"]["n_ctx"] == 256 and rest == 0 and st["ppl"]["scored_tokens"] == chunks * 127 > 0
    assert math.isfinite(st["ppl"]["ppl"]) and st["ppl"]["ppl"] > 1
    assert 0 <= st["agreement"]["agreement"] <= 1 and st["agreement"]["positions"] > 0
    assert st["lora"]["base_dtypes"] == ["bfloat16"] and 0 < st["lora"]["trainable_params"] < st["lora"]["total_params"]
    assert st["deepspeed"]["zero_stage"] == 2 and st["deepspeed"]["engine"] == "trainer+deepspeed-zero2"
    for name in ("lora", "deepspeed"):
        losses = st[name]["losses"]
        assert len(losses) == st[name]["steps"] == 5 and all(math.isfinite(x) for x in losses)
        assert losses[-1] < losses[0]  # one repeated batch: the loss must fall


def test_a_failing_stage_is_reported_and_the_others_still_run(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(check: S.Check) -> dict[str, object]:
        raise RuntimeError("matmul kernel exploded")

    monkeypatch.setitem(S.STAGES, "matmul", broken)
    out = tmp_path / "r.json"
    rc = gpu_check.main(["--cpu-smoke", "--stages", "matmul,agreement", "--out", str(out), "--no-wheels",
                         "--no-progress"])  # fmt: skip
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert rc == 1 and doc["ok"] is False
    assert list(doc["stages"]) == ["tiny", "matmul", "agreement"]
    assert doc["stages"]["matmul"]["status"] == "failed"
    assert doc["stages"]["matmul"]["error"] == "RuntimeError: matmul kernel exploded"
    assert doc["stages"]["agreement"]["status"] == "ok"
    assert "| matmul | failed |" in capsys.readouterr().out


def test_unknown_stage_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown stage"):
        gpu_check.main(["--cpu-smoke", "--stages", "warp", "--no-wheels"])


def test_shipped_wheels_cover_deepspeeds_requirements_within_budget() -> None:
    """DeepSpeed's own requirements are either shipped or a dependency of torch/transformers/accelerate."""
    shipped = gpu_check.shipped_wheels()
    assert shipped["deepspeed"].startswith("0.")
    from_host = {"torch", "numpy", "packaging", "tqdm", "psutil"}  # torch, transformers, accelerate bring these
    wheel = next(gpu_check.WHEELS.glob("deepspeed-*.whl"))
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = {
        gpu_check._norm(
            line.split(":", 1)[1].strip().split()[0].split(">")[0].split("=")[0].split("<")[0].split(";")[0]
        )
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert requires - from_host <= set(shipped), requires - from_host - set(shipped)
    total = sum(f.stat().st_size for f in gpu_check.WHEELS.glob("*.whl"))
    assert total < 20 * 2**20  # the device machine carries at most 64 MiB with the whole tree


def test_wheels_unpack_without_pip_and_import_from_the_site(tmp_path: Path) -> None:
    """The fallback for an interpreter without pip: the wheel matching this Python's tags is unpacked and imports."""
    site = tmp_path / "site"
    shipped = gpu_check.shipped_wheels()
    need = [f"{n}=={shipped[n]}" for n in ("msgpack", "hjson", "pydantic-core", "typing-extensions")]
    assert gpu_check.unzip_wheels(need, site) == "unzip"
    code = (
        "import msgpack, hjson, pydantic_core; print(msgpack.__file__); print(msgpack.unpackb(msgpack.packb([1, 'x'])))"
    )
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    where, value = done.stdout.splitlines()
    assert where.startswith(str(site)) and value == "[1, 'x']"


def test_stages_named_bring_what_they_need() -> None:
    order = list(S.STAGES)
    assert gpu_check.selected_stages("ceval", order) == ["tiny", "matmul", "build", "load", "ceval"]
    assert gpu_check.selected_stages("deepspeed, agreement", order) == ["tiny", "agreement", "deepspeed"]
    assert gpu_check.selected_stages(None, order) == order == ALL_STAGES


def test_stages_past_the_time_budget_are_not_started_and_the_json_says_so(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    rc = gpu_check.main(["--cpu-smoke", "--stages", "agreement", "--budget-s", "1e-9", "--out", str(out),
                         "--no-wheels", "--no-progress"])  # fmt: skip
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert rc == 1 and doc["ok"] is False and list(doc["stages"]) == ["tiny", "agreement"]
    assert all(s["status"] == "failed" and s["error"].startswith("not started") for s in doc["stages"].values())
