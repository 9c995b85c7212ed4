"""CMMLU: loader, prompts of both protocols pinned to PROTOCOLS.md §2, length control, aggregation, end to end."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from core.errors import UserError
from evals.mc.cmmlu_prompts import MAX_LENGTH, build_official_prompt, control_length
from evals.mc.cmmlu_subjects import CATEGORIES, CLA2_CATEGORY, SUBJECTS
from evals.mc.data import MCItem
from evals.mc.prompts import CMMLU_SYSTEM, build_prompt
from evals.registry import get_suite
from evals.resources import resource
from evals.suite_api import SuiteOptions
from evals.suites.cmmlu import aggregate_cmmlu

HEADER = ["", "Question", "A", "B", "C", "D", "Answer"]


def make_item(question: str = "问题一", answer: str = "B", subject: str = "computer_science", id: str = "0") -> MCItem:
    return MCItem(subject=subject, id=id, question=question, options=("甲", "乙", "丙", "丁"), answer=answer)


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def good_rows(n: int, start: int = 0) -> list[list[str]]:
    return [[str(start + i), f"第{i}题？", "一", "二", "三", "四", "ABCD"[i % 4]] for i in range(n)]


def plan(data: Path, **kw):
    return get_suite("cmmlu").plan(SuiteOptions(data=data, **kw))


# --- subjects --------------------------------------------------------------------------------


def test_subject_table_counts_match_protocols() -> None:
    assert len(SUBJECTS) == 67
    official = Counter(c for _, cats in SUBJECTS.values() for c in cats)
    assert official == {"STEM": 17, "Humanities": 13, "Social Science": 22, "Other": 15, "China specific": 15}
    assert Counter(CLA2_CATEGORY.values()) == {
        "STEM": 17,
        "Humanities": 11,
        "Social Science": 13,
        "Other": 11,
        "China specific": 15,
    }
    assert SUBJECTS["chinese_driving_rule"] == ("中国驾驶规则", ("Other", "China specific"))
    assert CLA2_CATEGORY["chinese_driving_rule"] == "China specific"
    assert SUBJECTS["high_school_physics"] == ("高中物理学", ("STEM",))


# --- loader ----------------------------------------------------------------------------------


def test_loader_reads_official_layout_with_index_ids(tmp_path: Path) -> None:
    rows = [["7", "一加一等于几？", "1", "2", "3", "4", "B"], ["3", "含,逗号的题", "x", "y", "z", "w", "d"]]
    write_csv(tmp_path / "test" / "computer_science.csv", rows)
    write_csv(tmp_path / "test" / "nutrition.csv", good_rows(3))
    write_csv(tmp_path / "dev" / "computer_science.csv", good_rows(5))
    write_csv(tmp_path / "dev" / "nutrition.csv", good_rows(5))
    p = plan(tmp_path, shots=2)
    assert p.split == "test"
    assert [it.key for it in p.items][:2] == ["computer_science/7", "computer_science/3"]
    assert p.items[1].question == "含,逗号的题" and p.items[1].answer == "D"
    assert [e.id for e in p.context.exemplars["nutrition"]] == ["0", "1"]
    only = plan(tmp_path, subjects=("nutrition",), limit=2)
    assert [it.key for it in only.items] == ["nutrition/0", "nutrition/1"]


def test_zero_shot_needs_no_dev_folder(tmp_path: Path) -> None:
    write_csv(tmp_path / "test" / "economics.csv", good_rows(2))
    assert len(plan(tmp_path).items) == 2


@pytest.mark.parametrize(
    ("setup", "kw", "message"),
    [
        (
            lambda d: write_csv(d / "test" / "economics.csv", [r[:-1] for r in good_rows(2)], HEADER[:-1]),
            {},
            "missing column(s) Answer",
        ),
        (
            lambda d: write_csv(
                d / "test" / "economics.csv", [r[:2] + r[3:] for r in good_rows(2)], HEADER[:2] + HEADER[3:]
            ),
            {},
            "missing column(s) A",
        ),
        (
            lambda d: write_csv(d / "test" / "economics.csv", [["0", "题？", "1", "2", "3", "4", "E"]]),
            {},
            "is not one of A, B, C, D",
        ),
        (
            lambda d: write_csv(d / "test" / "economics.csv", [["0", "题？", "1", "2", "3", "4", ""]]),
            {},
            "is not one of A, B, C, D",
        ),
        (
            lambda d: write_csv(d / "test" / "rocket_science.csv", good_rows(2)),
            {},
            "unknown CMMLU subject 'rocket_science'",
        ),
        (lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)), {"shots": 5}, "missing CMMLU file"),
        (
            lambda d: (
                write_csv(d / "test" / "economics.csv", good_rows(2)),
                write_csv(d / "dev" / "economics.csv", good_rows(3)),
            ),
            {"shots": 5},
            "has 3 rows; --shots 5 needs more",
        ),
        (lambda d: (d / "test").mkdir(), {}, "no *.csv files"),
        (lambda d: None, {}, "has no test/ folder"),
        (lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)), {"subjects": ("nutrition",)}, "has no file"),
        (
            lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)),
            {"subjects": ("physics",)},
            "unknown CMMLU subject",
        ),
        (
            lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)),
            {"protocol": "mmlu"},
            "unknown CMMLU protocol",
        ),
        (lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)), {"split": "val"}, "unknown CMMLU split"),
        (
            lambda d: write_csv(d / "dev" / "economics.csv", good_rows(5)),
            {"split": "dev", "shots": 1},
            "its own exemplars",
        ),
        (
            lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)),
            {"protocol": "official", "chat": True},
            "drop --chat",
        ),
        (
            lambda d: write_csv(d / "test" / "economics.csv", good_rows(2)),
            {"protocol": "official", "scoring": "logprob"},
            "--scoring does not apply",
        ),
    ],
)
def test_loader_rejects_bad_input_with_one_line(tmp_path: Path, setup, kw: dict, message: str) -> None:
    setup(tmp_path)
    with pytest.raises(UserError) as exc:
        plan(tmp_path, **kw)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_sample_data_covers_all_categories_and_letters() -> None:
    p = get_suite("cmmlu").plan(SuiteOptions(shots=5))
    subjects = {it.subject for it in p.items}
    assert len(subjects) >= 8
    assert {CLA2_CATEGORY[s] for s in subjects} == set(CATEGORIES)
    assert {c for s in subjects for c in SUBJECTS[s][1]} == set(CATEGORIES)
    assert all(len(p.context.exemplars[s]) == 5 for s in subjects)
    assert Counter(it.subject for it in p.items) == {s: 10 for s in subjects}
    letters = Counter(it.answer for it in p.items)
    assert set(letters) == set("ABCD") and min(letters.values()) >= len(p.items) // 5
    first = (resource("cmmlu_sample") / "test" / "economics.csv").read_text(encoding="utf-8").splitlines()[0]
    assert first == ",Question,A,B,C,D,Answer"


def test_run_identity_captures_protocol() -> None:
    cla2 = get_suite("cmmlu").plan(SuiteOptions(shots=5))
    official = get_suite("cmmlu").plan(SuiteOptions(shots=5, protocol="official"))
    assert cla2.identity == {"protocol": "cla2", "scoring": "cla2", "template": "none"}
    assert official.identity == {
        "protocol": "official",
        "scoring": "bare_logit",
        "template": "none",
        "max_length": MAX_LENGTH,
    }
    assert official.prompt_version != cla2.prompt_version
    chat = get_suite("cmmlu").plan(SuiteOptions(chat=True, template="auto", scoring="logprob"))
    assert chat.identity == {"protocol": "cla2", "scoring": "logprob", "template": "auto"}


# --- prompts, pinned to PROTOCOLS.md ---------------------------------------------------------

TEST_Q = "问题一\nA. 甲\nB. 乙\nC. 丙\nD. 丁"
EX1_Q = "例一\nA. 甲\nB. 乙\nC. 丙\nD. 丁"
EX2_Q = "例二\nA. 甲\nB. 乙\nC. 丙\nD. 丁"
SHOTS = (make_item("例一", "A", id="10"), make_item("例二", "C", id="11"))


def test_official_prompt_zero_shot() -> None:
    prompt, prefix = build_official_prompt(make_item(), ())
    assert prompt == "以下是关于计算机科学的单项选择题，请直接给出正确答案的选项。\n\n题目：" + TEST_Q + "\n答案是："
    assert prefix == "以下是关于计算机科学的单项选择题，请直接给出正确答案的选项。\n\n"


def test_official_prompt_two_shot() -> None:
    prompt, prefix = build_official_prompt(make_item(), SHOTS, count_tokens=len)
    expected_prefix = (
        "以下是关于计算机科学的单项选择题，请直接给出正确答案的选项。\n\n"
        "题目：" + EX1_Q + "\n答案是：A\n\n"
        "题目：" + EX2_Q + "\n答案是：C\n\n"
    )
    assert prefix == expected_prefix
    assert prompt == expected_prefix + "题目：" + TEST_Q + "\n答案是："


def test_cla2_base_prompts() -> None:
    zero, _ = build_prompt(make_item(), (), chat=False, system=CMMLU_SYSTEM)
    assert zero == TEST_Q + "\n答案："
    two, _ = build_prompt(make_item(), SHOTS, chat=False, system=CMMLU_SYSTEM)
    assert two == (
        "以下是中国关于computer_science考试的单项选择题，请选出其中的正确答案。\n\n"
        + EX1_Q
        + "\n答案：A\n\n"
        + EX2_Q
        + "\n答案：C\n\n"
        + TEST_Q
        + "\n答案："
    )


def test_cla2_chat_prompts_use_the_chinese_only_system_prompt() -> None:
    sys_block = "[INST] <<SYS>>\n你是一个乐于助人的助手。\n<</SYS>>\n\n"
    zero, _ = build_prompt(make_item(), (), chat=True, system=CMMLU_SYSTEM)
    assert zero == sys_block + TEST_Q + "\n答案： [/INST]"
    two, _ = build_prompt(make_item(), SHOTS, chat=True, system=CMMLU_SYSTEM)
    assert two == (
        sys_block + "以下是中国关于computer_science考试的单项选择题，请选出其中的正确答案。\n\n [/INST]"
        "好的，我会结合computer_science相关知识回答"
        "[INST] " + EX1_Q + "\n答案：[/INST]A\n"
        "[INST] " + EX2_Q + "\n答案：[/INST]C\n" + sys_block + TEST_Q + "\n答案： [/INST]"
    )


class RecordingRunner:
    """Captures what the suite sends; answers every prompt with fixed scores (plumbing tests only)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def count_tokens(self, text: str) -> int:
        return len(text) + 1  # one "BOS" per encoded text, like the real counter

    def apply_chat_template(self, messages, *, add_generation_prompt=None):
        raise ValueError("no chat template (the cmmlu protocols here use llama2 or no template)")

    def choice_logprobs(self, prompts, choices, *, scoring, prefixes=None, batch_size=8, progress=False):
        self.calls.append({"prompts": list(prompts), "scoring": scoring, "prefixes": list(prefixes or [])})
        return [{"A": 0.0, "B": 1.0, "C": 0.5, "D": 1.0} for _ in prompts]


@pytest.mark.parametrize("protocol", ["cla2", "official"])
def test_suite_sends_the_protocol_prompt_and_scoring(protocol: str) -> None:
    suite = get_suite("cmmlu")
    p = suite.plan(SuiteOptions(shots=2, chat=protocol == "cla2", subjects=("economics",), protocol=protocol))
    runner = RecordingRunner()
    rows = [r for chunk in suite.predict(runner, p, p.items, batch_size=4) for r in chunk]
    first = runner.calls[0]["prompts"][0]
    if protocol == "cla2":
        assert runner.calls[0]["scoring"] == "cla2"
        assert first.startswith("[INST] <<SYS>>\n你是一个乐于助人的助手。\n<</SYS>>\n\n以下是中国关于economics考试")
    else:
        assert runner.calls[0]["scoring"] == "bare_logit"
        assert first.startswith("以下是关于经济学的单项选择题，请直接给出正确答案的选项。\n\n题目：")
        assert first.count("题目：") == 3 and first.endswith("\n答案是：")
    assert len(rows) == 10 and rows[0]["pred"] == "B"  # first maximum over A–D
    assert rows[0]["extra"]["id"] == "0" and rows[0]["item_id"] == "economics/0"


# --- length control --------------------------------------------------------------------------


def test_length_control_keeps_everything_that_fits() -> None:
    assert control_length(10, 20, [100, 200, 300], max_length=2048) == (True, [0, 1, 2])


def test_length_control_drops_all_longest_exemplars_at_once() -> None:
    # budget 500 - 30 = 470; 750 >= 470 -> both 300s go in one step; 150 < 470 stops.
    assert control_length(10, 20, [100, 300, 300, 50], max_length=500) == (True, [0, 3])


def test_length_control_repeats_until_under_budget_and_equality_still_drops() -> None:
    # budget 170: sum 270 -> drop 100s; 70 < 170 -> keep the 70.
    assert control_length(10, 20, [100, 70, 100], max_length=200) == (True, [1])
    # sum exactly equal to the budget still drops (the official loop tests >=).
    assert control_length(10, 20, [100, 70], max_length=200) == (True, [1])
    assert control_length(10, 20, [50, 50], max_length=130) == (True, [])


def test_length_control_without_room_for_header_keeps_test_only() -> None:
    # header + test fit, leaving 8 tokens: the two equal exemplars (10 in all) go together.
    assert control_length(30, 2010, [5, 5], max_length=2048) == (True, [])
    assert control_length(49, 2000, [5], max_length=2048) == (False, [])


def test_build_official_prompt_applies_length_control_with_a_counter() -> None:
    long_shot = make_item("长" * 400, "A", id="1")
    shots = (
        make_item("短", "B", id="0"),
        long_shot,
        make_item("长" * 400, "D", id="2"),
        make_item("中" * 50, "C", id="3"),
    )
    prompt, prefix = build_official_prompt(make_item(), shots, count_tokens=len, max_length=600)
    assert "长" not in prompt and prompt.count("题目：") == 3
    assert prefix.endswith("中" * 50 + "\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案是：C\n\n")
    too_long = make_item("问" * 700)
    prompt, prefix = build_official_prompt(too_long, shots, count_tokens=len, max_length=600)
    assert prompt.startswith("题目：问") and prefix == ""


# --- aggregation -----------------------------------------------------------------------------


def _rows() -> list[dict]:
    spec = {
        "computer_science": [True, False],
        "chinese_history": [True, True, True, False],
        "ancient_chinese": [True, True],
        "nutrition": [False, False],
    }
    return [
        {"item_id": f"{s}/{i}", "subject": s, "pred": "A", "gold": "A" if ok else "B", "correct": ok}
        for s, oks in spec.items()
        for i, ok in enumerate(oks)
    ]


def test_aggregate_cla2_disjoint_micro() -> None:
    m = aggregate_cmmlu(_rows(), "cla2")
    assert m["by_subject"] == {
        "ancient_chinese": 1.0,
        "chinese_history": 0.75,
        "computer_science": 0.5,
        "nutrition": 0.0,
    }
    assert m["by_category"] == {"STEM": 0.5, "Other": 0.0, "China specific": pytest.approx(5 / 6)}
    assert list(m["by_category"]) == ["STEM", "Other", "China specific"]
    assert m["accuracy"] == m["accuracy_micro"] == pytest.approx(0.6)
    assert m["accuracy_macro"] == pytest.approx(0.5625)


def test_aggregate_official_overlapping_macro() -> None:
    m = aggregate_cmmlu(_rows(), "official")
    assert m["by_category"] == {
        "STEM": 0.5,
        "Humanities": 0.75,
        "Social Science": 1.0,
        "Other": 0.0,
        "China specific": pytest.approx(0.875),
    }
    assert m["accuracy"] == m["accuracy_macro"] == pytest.approx(0.5625)
    assert m["accuracy_micro"] == pytest.approx(0.6)
    assert m["n_items"] == m["n_scored"] == 10


# --- end to end on the tiny model ------------------------------------------------------------


def test_cli_rejects_unknown_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--suite", "cmmlu", "--protocol", "mmlu"])
    assert exc.value.code == 2
    assert "unknown --protocol 'mmlu'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(("protocol", "shots", "chat"), [("cla2", 0, False), ("cla2", 5, True), ("official", 5, False)])
def test_end_to_end_on_tiny_model(tiny_model_dir: Path, tmp_path: Path, protocol: str, shots: int, chat: bool) -> None:
    from evals.cli import main

    out = tmp_path / "cmmlu.json"
    # --limit 3 keeps it quick on CPU while every subject, hence every category, is still present.
    args = [
        "run",
        "--suite",
        "cmmlu",
        "--model",
        str(tiny_model_dir),
        "--shots",
        str(shots),
        "--limit",
        "3",
        "--protocol",
        protocol,
        "--db",
        f"sqlite:///{tmp_path / 'e2e.db'}",
        "--json",
        str(out),
        "--no-progress",
    ]
    main(args + (["--chat"] if chat else []))
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["suite"] == "cmmlu" and doc["split"] == "test" and doc["shots"] == shots
    assert doc["n_items"] == 30 == len(doc["items"])
    assert doc["config"]["options"]["protocol"] == protocol
    assert doc["config"]["scoring"] == ("bare_logit" if protocol == "official" else "cla2")
    ids = {(it["subject"], it["id"]) for it in doc["items"]}
    assert {("economics", "0"), ("economics", "1"), ("economics", "2")} <= ids
    assert all(isinstance(it["id"], str) and it["id"].isdigit() for it in doc["items"])
    assert all(set(it["scores"]) == set("ABCD") for it in doc["items"])
    m = doc["metrics"]
    assert set(m["by_category"]) == set(CATEGORIES)
    assert 0.0 <= m["accuracy"] <= 1.0
    headline = m["accuracy_macro"] if protocol == "official" else m["accuracy_micro"]
    assert m["accuracy"] == headline
    # The same command again resumes: nothing left to compute, same run.
    out2 = tmp_path / "again.json"
    main(args[:-3] + ["--json", str(out2), "--no-progress"] + (["--chat"] if chat else []))
    again = json.loads(out2.read_text(encoding="utf-8"))
    assert again["run_id"] == doc["run_id"] and again["metrics"] == m
