"""End to end, live mode: the real Streamlit server in public voter mode, headless Chromium, the real
tiny model answering from the live pool, three ways:

* `in-process`: the pool serves the checkpoint itself (`pool add --model PATH`);
* `loopback`: a real OpenAI-compatible SSE server on loopback (`tests/arena/sse_server.py`) streams it,
  paced at 25 ms a chunk as a loaded server is;
* `vllm`: vLLM's own server (`vllm serve`, the CPU build `make test-vllm` installs), skipped elsewhere.

A voter types a question, sees both answers stream, sends a follow-up, votes with a tag and a
comment, sees the reveal and starts a new round; a reload keeps the voter's identity. Before the
vote no model name is in the page's HTML or in any websocket frame. Screenshots at 1400x900 and
390x844 go to `out/` (gitignored) for a human to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from arena.live_pool import add_pool_model
from core.model_spec import ModelSpec
from db import Database
from db.models_live import Conversation, LiveVote, Message
from runners import open_runner
from runners.base import GenParams
from runners.chat_stream import HFChatStreamer
from tests.arena.sse_server import serve_chat
from tests.dashboards.test_vote_browser import APP, CHROMIUM, CHROMIUM_ARGS, free_port, wait_healthy
from tests.vllm_server import serve_vllm, vllm_unusable

OUT = Path(__file__).resolve().parents[2] / "out"
NAMES = ("alpha-live-7b", "beta-live-7b")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


PARAMS = GenParams(max_new_tokens=96, temperature=0.7, min_new_tokens=48)  # never an empty answer
SERVED = "tiny-live"


def _pool(stack: ExitStack, source: str, database: Database, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Put the tiny model in the live pool twice, answering from `source`."""
    base_url = None
    if source == "loopback":
        streamer = HFChatStreamer(open_runner(ModelSpec(name="tiny", path=str(tiny_model_dir))), timeout_s=60)
        base_url = stack.enter_context(serve_chat(streamer, SERVED, pace_s=0.025)).url
    elif source == "vllm":
        if reason := vllm_unusable():
            pytest.skip(reason)
        base_url = stack.enter_context(serve_vllm(tiny_model_dir, SERVED, tmp_path / "vllm.log"))
    for name in NAMES:
        if base_url is None:
            add_pool_model(database, name, model=str(tiny_model_dir), params=PARAMS)
        else:
            add_pool_model(database, name, base_url=base_url, served_model_name=SERVED, params=PARAMS)


@pytest.fixture(params=["in-process", "loopback", "vllm"])
def live_server(
    request: pytest.FixtureRequest, tmp_path: Path, tiny_model_dir: Path
) -> Iterator[tuple[str, Database, Path]]:
    """A store whose live pool holds the tiny model twice, served in public mode on a free port."""
    stack = ExitStack()
    db_url = f"sqlite:///{tmp_path / 'live.db'}"
    database = Database(db_url)
    stack.callback(database.dispose)
    with stack:
        _pool(stack, request.param, database, tiny_model_dir, tmp_path)
        yield from _serve_page(db_url, database, tmp_path)


def _serve_page(db_url: str, database: Database, tmp_path: Path) -> Iterator[tuple[str, Database, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(EVALS_DB_URL=db_url, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", EVALS_DASHBOARD_PUBLIC="1",
               EVALS_VOTE_RATE="off", EVALS_VOTER_SECRET="test-secret")  # fmt: skip
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--client.showErrorDetails", "none", "--client.toolbarMode", "viewer"]  # fmt: skip
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        yield url, database, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _chat_box(page):  # type: ignore[no-untyped-def]
    """The one chat input, once a rerun's stale copy (a new round's input has a new key) is gone."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_have_count(1, timeout=60_000)
    return box


def _ask(page, text: str) -> None:  # type: ignore[no-untyped-def]
    box = _chat_box(page)
    box.fill(text)
    box.press("Enter")


# Counts every DOM state in which an answer shows the typing cursor: streaming seen without polling races.
_OBSERVE = """() => {
  window.__cursorStates = 0;
  new MutationObserver(() => {
    if (document.body.innerText.includes("▌")) window.__cursorStates++;
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _wait_answered(page, question: str, timeout_s: float = 240) -> None:  # type: ignore[no-untyped-def]
    """Wait until `question` is answered on both sides (no cursor left, vote form or failure shown)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = page.evaluate("() => document.body.innerText")
        if question in text and "▌" not in text and ("A 更好" in text or "不计分" in text):
            if question not in _chat_box(page).input_value():
                return
        time.sleep(0.3)
    raise TimeoutError(f"{question!r} not answered within {timeout_s:.0f} s")


def test_live_round_in_chromium(live_server: tuple[str, Database, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, database, log_path = live_server
    OUT.mkdir(exist_ok=True)
    frames: list[bytes] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
                f if isinstance(f, bytes) else f.encode())))  # fmt: skip
            page.goto(url, wait_until="domcontentloaded")
            main = page.get_by_role("main")
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=60_000)
            # Public mode: vote and leaderboard only, no store URL or path anywhere.
            nav = page.get_by_test_id("stSidebarNav")
            expect(nav).to_contain_text("投票")
            expect(nav).to_contain_text("排行榜")
            for admin_page in ("评测", "模型", "运行"):
                expect(nav.get_by_text(admin_page, exact=True)).to_have_count(0)
            assert "sqlite" not in page.content() and str(log_path.parent) not in page.content()
            page.screenshot(path=str(OUT / "live_start_1400x900.png"), full_page=True)
            # Every suggested question reads whole (wrapped), never cut with "…" in its button.
            labels = page.locator("[class*='st-key-suggest_'] [data-testid='stMarkdownContainer']")
            expect(labels.first).to_be_visible()
            cut = labels.evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length")
            assert labels.count() >= 2 and cut == 0

            # Bad input: a clear message, nothing stored.
            _ask(page, "<script>alert(1)</script>")
            expect(page.get_by_text("问题里不能包含 HTML 标签或脚本")).to_be_visible(timeout=30_000)

            page.evaluate(_OBSERVE)
            _ask(page, "请简单介绍一下长城。")
            _wait_answered(page, "请简单介绍一下长城。")
            _ask(page, "能再说短一点吗？")
            _wait_answered(page, "能再说短一点吗？")
            cursor_states = page.evaluate("() => window.__cursorStates")
            html_before = page.content()
            for name in NAMES:  # anonymous before the vote: page HTML and every websocket frame
                assert name not in html_before
                assert not any(name.encode() in f for f in frames), f"{name} in a websocket frame before the vote"
            page.screenshot(path=str(OUT / "live_before_vote_1400x900.png"), full_page=True)

            main.get_by_role("button", name="有用").first.click()
            main.get_by_label("评论（可选）").fill("A 更具体")
            main.get_by_label("评论（可选）").press("Enter")
            main.get_by_role("button", name="A 更好").click()
            expect(main.get_by_text("模型A")).to_be_visible(timeout=30_000)
            for name in NAMES:
                expect(main).to_contain_text(name)
            page.screenshot(path=str(OUT / "live_revealed_1400x900.png"), full_page=True)
            main.get_by_role("button", name="新一轮").click()
            expect(main.get_by_role("button", name="A 更好")).to_have_count(0, timeout=30_000)
            expect(_chat_box(page)).to_be_enabled()
            expect(_chat_box(page)).to_have_attribute("placeholder", "输入你的问题…")

            # A reload keeps the voter (signed cookie), and the phone layout works.
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload(wait_until="domcontentloaded")
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=60_000)
            _ask(page, "推荐一本适合初学者的书。")
            _wait_answered(page, "推荐一本适合初学者的书。")
            page.screenshot(path=str(OUT / "live_answers_390x844.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(OUT / "live_failure.png"), full_page=True)
            print(log_path.read_text(errors="replace")[-3000:])
            raise
        finally:
            browser.close()
    with database.session(write=False) as s:
        convs = list(s.scalars(select(Conversation).order_by(Conversation.created_at)))
        votes = list(s.scalars(select(LiveVote)))
        first_msgs = list(s.scalars(select(Message).where(Message.conversation_id == convs[0].id)))
    assert len(convs) == 2 and convs[0].voter_id == convs[1].voter_id  # same voter after the reload
    assert convs[0].session_id != convs[1].session_id  # ... though Streamlit's session is new
    assert len(votes) == 1 and votes[0].outcome == "model_a" and votes[0].tags_a == ["有用"]
    assert votes[0].comment == "A 更具体" and convs[0].prompt_origin == "typed"
    assert sorted((m.turn, m.side) for m in first_msgs) == [(t, s) for t in (0, 1) for s in ("a", "b", "user")]
    assert "Traceback" not in log_path.read_text(errors="replace")
    # Both answers were seen mid-stream. The page redraws every 0.15 s, so an answer that took under a
    # second may finish between redraws (the in-process tiny model can write 160 tokens that fast);
    # the paced loopback server always takes longer.
    slowest = max(m.latency_s or 0.0 for m in first_msgs if m.role == "assistant")
    if slowest > 1.0:
        assert cursor_states > 0, f"no answer seen mid-stream though the slowest took {slowest:.2f} s"
