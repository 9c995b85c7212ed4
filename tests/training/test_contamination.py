"""n-gram contamination between a corpus and C-Eval/CMMLU items."""

from __future__ import annotations

from pathlib import Path

import pytest

RES = Path(__file__).resolve().parents[2] / "training" / "resources"


def test_copied_question_is_flagged(tmp_path):
    from evals.cli.contamination import suite_items
    from training.contamination import check

    items = suite_items("ceval")
    victim = items[3]
    corpus = [
        RES.joinpath("heldout_zh.txt").read_text(encoding="utf-8"),
        "网上题库：" + victim.question + " " + " ".join(victim.options),
    ]
    rows = check(corpus, items)
    bad = [r.key for r in rows if r.contaminated]
    assert bad == [victim.key]
    clean = check([RES.joinpath("corpus_zh.txt").read_text(encoding="utf-8")], items)
    assert not any(r.contaminated for r in clean)


def test_cli_exit_code_and_json(tmp_path):
    import json

    from evals.cli import main
    from evals.cli.contamination import suite_items

    item = suite_items("cmmlu")[0]
    corpus = tmp_path / "c.txt"
    corpus.write_text(item.question + "".join(item.options), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["contamination", "--corpus", str(corpus), "--suite", "cmmlu", "--json", str(tmp_path / "o.json")])
    assert e.value.code == 1
    doc = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert item.key in doc["contaminated"]
    main(["contamination", "--corpus", str(RES / "sft_sample.csv"), "--suite", "ceval"])  # exit 0: clean
