"""C-Eval end to end through the real CLI on the real tiny model, with SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.evals.cli_helpers import ROOT, load_json, run_cli

SUBJECTS = ("computer_network", "law")


def _small_copy(src: Path, dst: Path, subjects=SUBJECTS) -> Path:
    """A two-subject slice of the embedded sample (keeps the tests fast)."""
    for split in ("dev", "val", "test"):
        (dst / split).mkdir(parents=True, exist_ok=True)
        for s in subjects:
            f = src / split / f"{s}_{split}.csv"
            (dst / split / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.fixture()
def data_dir(ceval_sample_dir, tmp_path):
    return _small_copy(Path(ceval_sample_dir), tmp_path / "ceval")


def _csv_ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [row["id"] for row in csv.DictReader(f)]


def test_five_shot_json_document(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "out.json"
    db = f"sqlite:///{tmp_path / 'r.db'}"
    res = run_cli(
        "run",
        "--suite",
        "ceval",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--shots",
        "5",
        "--db",
        db,
        "--json",
        str(out),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    for key in ("run_id", "suite", "model", "backend", "split", "shots", "metrics", "n_items", "elapsed_s", "items"):
        assert key in doc
    assert doc["suite"] == "ceval" and doc["split"] == "val" and doc["shots"] == 5
    expected_ids = {(s, i) for s in SUBJECTS for i in _csv_ids(data_dir / "val" / f"{s}_val.csv")}
    assert {(it["subject"], it["id"]) for it in doc["items"]} == expected_ids
    assert doc["n_items"] == len(expected_ids)
    for it in doc["items"]:
        assert set(it) >= {"subject", "id", "pred", "gold", "correct", "scores"}
        assert isinstance(it["id"], str)
        scores = it["scores"]
        assert list(scores) == ["A", "B", "C", "D"]
        best = max(scores.values())
        assert it["pred"] == next(k for k in "ABCD" if scores[k] == best)  # first argmax
        assert it["correct"] == (it["pred"] == it["gold"])
    acc = sum(it["correct"] for it in doc["items"]) / len(doc["items"])
    assert doc["metrics"]["accuracy"] == pytest.approx(acc)
    assert set(doc["metrics"]["by_category"]) == {"STEM", "Humanities"}
    assert set(doc["metrics"]["by_subject"]) == set(SUBJECTS)
    # the table and where it was stored are printed
    assert "Overall (micro)" in res.stdout and doc["run_id"] in res.stdout

    # the same command again: everything comes from the store, same numbers
    out2 = tmp_path / "out2.json"
    res2 = run_cli(
        "run",
        "--suite",
        "ceval",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--shots",
        "5",
        "--db",
        db,
        "--json",
        str(out2),
        "--no-progress",
    )
    assert res2.returncode == 0, res2.stderr
    doc2 = load_json(out2)
    assert doc2["run_id"] == doc["run_id"]
    assert "0 computed" in res2.stdout
    assert doc2["items"] == doc["items"]

    # a different shot count is a different run
    res3 = run_cli(
        "run",
        "--suite",
        "ceval",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--shots",
        "0",
        "--db",
        db,
        "--json",
        str(tmp_path / "o3.json"),
        "--no-progress",
    )
    assert res3.returncode == 0, res3.stderr
    assert load_json(tmp_path / "o3.json")["run_id"] != doc["run_id"]


def test_batching_and_prefix_reuse_do_not_change_predictions(tiny_model_dir, data_dir, tmp_path):
    docs = []
    for bs in ("1", "7"):
        out = tmp_path / f"b{bs}.json"
        res = run_cli(
            "run",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data_dir),
            "--shots",
            "5",
            "--batch-size",
            bs,
            "--db",
            f"sqlite:///{tmp_path / ('b' + bs + '.db')}",
            "--json",
            str(out),
            "--no-progress",
        )
        assert res.returncode == 0, res.stderr
        docs.append(load_json(out))
    a, b = docs
    assert [i["pred"] for i in a["items"]] == [i["pred"] for i in b["items"]]
    for x, y in zip(a["items"], b["items"]):
        for k in "ABCD":
            assert x["scores"][k] == pytest.approx(y["scores"][k], abs=1e-4)


def test_resume_after_kill(tiny_model_dir, data_dir, tmp_path):
    """Kill -9 a run mid-way; the same command finishes only the missing items, same final numbers."""
    db_file = tmp_path / "kill.db"
    args = [
        "run",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--shots",
        "5",
        "--batch-size",
        "1",
        "--db",
        f"sqlite:///{db_file}",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stored = 0
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db_file.exists():
            try:
                with sqlite3.connect(db_file, timeout=1) as con:
                    stored = con.execute("select count(*) from item_results").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if stored >= 4:
                break
    if proc.poll() is not None:
        pytest.fail(f"run finished before it could be interrupted (stored={stored})")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db_file) as con:
        partial = con.execute("select count(*) from item_results").fetchone()[0]
    assert 0 < partial

    out = tmp_path / "resumed.json"
    res = run_cli(*args, "--json", str(out))
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert f"{doc['n_items'] - partial} computed, {partial} from the store" in res.stdout

    fresh = tmp_path / "fresh.json"
    res = run_cli(
        "run",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--shots",
        "5",
        "--db",
        f"sqlite:///{tmp_path / 'fresh.db'}",
        "--json",
        str(fresh),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    ref = load_json(fresh)
    assert [i["pred"] for i in doc["items"]] == [i["pred"] for i in ref["items"]]
    assert doc["metrics"]["accuracy"] == pytest.approx(ref["metrics"]["accuracy"])


def test_test_split_and_submission_export(tiny_model_dir, data_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 't.db'}"
    out = tmp_path / "t.json"
    res = run_cli(
        "run",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--split",
        "test",
        "--db",
        db,
        "--json",
        str(out),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert "accuracy" not in doc["metrics"]
    assert all(it["gold"] is None and it["pred"] in "ABCD" for it in doc["items"])
    sub = tmp_path / "submission.json"
    res = run_cli("export", "ceval-submission", "--run", doc["run_id"][:8], "--out", str(sub), "--db", db)
    assert res.returncode == 0, res.stderr
    submission = json.loads(sub.read_text(encoding="utf-8"))
    assert set(submission) == set(SUBJECTS)
    for s in SUBJECTS:
        assert set(submission[s]) == set(_csv_ids(data_dir / "test" / f"{s}_test.csv"))
    preds = {(it["subject"], it["id"]): it["pred"] for it in doc["items"]}
    assert all(submission[s][i] == preds[(s, i)] for s in submission for i in submission[s])


def test_submission_covers_every_test_item_of_every_subject(tiny_model_dir, ceval_sample_dir, tmp_path):
    """The embedded test split is in the official layout (`id,question,A,B,C,D`): the export names every
    subject of the data and, in each, every id of its CSV, with an A-D letter."""
    db = f"sqlite:///{tmp_path / 'sub.db'}"
    data = Path(ceval_sample_dir)
    base = ["run", "--model", str(tiny_model_dir), "--data", str(data), "--db", db, "--no-progress"]
    out = tmp_path / "t.json"
    res = run_cli(*base, "--split", "test", "--json", str(out))
    assert res.returncode == 0, res.stderr
    run_id = load_json(out)["run_id"]
    sub = tmp_path / "submission.json"
    res = run_cli("export", "ceval-submission", "--run", run_id[:8], "--out", str(sub), "--db", db)
    assert res.returncode == 0, res.stderr
    submission = json.loads(sub.read_text(encoding="utf-8"))
    files = sorted((data / "test").glob("*_test.csv"))
    assert set(submission) == {f.name.removesuffix("_test.csv") for f in files}
    for f in files:
        answers = submission[f.name.removesuffix("_test.csv")]
        assert list(answers) == _csv_ids(f) and set(answers.values()) <= set("ABCD"), f.name

    # only a whole test-split run makes a submission: a val run and a --limit run are refused
    val_out = tmp_path / "v.json"
    assert run_cli(*base, "--subjects", "law", "--json", str(val_out)).returncode == 0
    val_run = load_json(val_out)["run_id"][:8]
    _assert_user_error(
        run_cli("export", "ceval-submission", "--run", val_run, "--out", str(tmp_path / "x.json"), "--db", db),
        "covers the test split",
    )
    lim_out = tmp_path / "l.json"
    assert run_cli(*base, "--split", "test", "--limit", "1", "--json", str(lim_out)).returncode == 0
    lim_run = load_json(lim_out)["run_id"][:8]
    _assert_user_error(
        run_cli("export", "ceval-submission", "--run", lim_run, "--out", str(tmp_path / "x.json"), "--db", db),
        "needs every test item",
    )
    assert not (tmp_path / "x.json").exists()


def test_dev_split_with_shots_is_refused(tiny_model_dir, data_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'dev.db'}"
    base = ["run", "--model", str(tiny_model_dir), "--data", str(data_dir), "--db", db, "--no-progress"]
    # exemplars come from dev: each dev item would be scored with itself among them
    _assert_user_error(run_cli(*base, "--split", "dev", "--shots", "5"), "would test on its own exemplars")
    out = tmp_path / "d.json"
    res = run_cli(*base, "--split", "dev", "--shots", "0", "--limit", "1", "--json", str(out))
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["split"] == "dev" and doc["n_items"] == len(SUBJECTS) and "accuracy" in doc["metrics"]


def _assert_user_error(res, fragment: str):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert fragment in lines[0], lines[0]


def test_bad_input_is_one_line_exit_2(tiny_model_dir, data_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    base = ["run", "--model", str(tiny_model_dir), "--db", db, "--no-progress"]
    _assert_user_error(run_cli(*base, "--data", str(tmp_path / "nope")), "does not exist")

    broken = _small_copy(data_dir, tmp_path / "broken")
    f = broken / "val" / "law_val.csv"
    f.write_text("id,question,A,B,C\n0,q,a,b,c\n", encoding="utf-8")
    _assert_user_error(run_cli(*base, "--data", str(broken)), "missing column")

    f.write_text("id,question,A,B,C,D,answer,explanation\n0,q,a,b,c,d,E,\n", encoding="utf-8")
    _assert_user_error(run_cli(*base, "--data", str(broken)), "not one of A, B, C, D")

    _assert_user_error(run_cli(*base, "--data", str(data_dir), "--subjects", "astrology"), "unknown C-Eval subject")
    # a server returns no raw logits for cla2: said before any request is sent
    _assert_user_error(run_cli(*base, "--data", str(data_dir), "--backend", "openai"), "add --scoring logprob")

    odd = _small_copy(data_dir, tmp_path / "odd")
    (odd / "val" / "astrology_val.csv").write_text("id,question,A,B,C,D,answer,explanation\n", encoding="utf-8")
    _assert_user_error(run_cli(*base, "--data", str(odd)), "unknown C-Eval subject")

    _assert_user_error(
        run_cli("run", "--model", str(tmp_path / "no-model"), "--data", str(data_dir), "--db", db), "does not exist"
    )
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    _assert_user_error(run_cli("run", "--model", str(bert), "--data", str(data_dir), "--db", db), "not a causal LM")

    _assert_user_error(
        run_cli(
            "run",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data_dir),
            "--db",
            "postgresql+psycopg://nobody:secret@127.0.0.1:1/none",
        ),
        "cannot connect",
    )
    # nothing was half-written: no run was created by the failed commands
    with sqlite3.connect(tmp_path / "bad.db") as con:
        assert con.execute("select count(*) from runs").fetchone()[0] == 0


@pytest.mark.pg
def test_postgresql_store(tiny_model_dir, data_dir, tmp_path, pg_url):
    out = tmp_path / "pg.json"
    res = run_cli(
        "run",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data_dir),
        "--limit",
        "3",
        "--db",
        pg_url,
        "--json",
        str(out),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["n_items"] == 3 * len(SUBJECTS)
    res = run_cli("results", "--db", pg_url)
    assert res.returncode == 0 and doc["run_id"][:10] in res.stdout


def test_cli_without_model_imports_no_torch(tmp_path):
    code = (
        "import sys\n"
        "from evals.cli import main\n"
        "try:\n    main(['results', '--db', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'streamlit') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stderr


def test_embedded_default_needs_no_arguments(tiny_model_dir, tmp_path):
    """`evals run --suite ceval` alone: the tiny model (cached) and our sample data, all 4 categories."""
    out = tmp_path / "default.json"
    res = run_cli(
        "run",
        "--suite",
        "ceval",
        "--limit",
        "2",
        "--db",
        f"sqlite:///{tmp_path / 'd.db'}",
        "--json",
        str(out),
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    doc = load_json(out)
    assert doc["model"] == "tiny-zh-llama"
    assert doc["config"]["model_path"] == str(tiny_model_dir)
    assert set(doc["metrics"]["by_category"]) == {"STEM", "Social Science", "Humanities", "Other"}
    assert len(doc["metrics"]["by_subject"]) >= 8
