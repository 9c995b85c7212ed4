"""End to end: the real Streamlit server, headless Chromium, one vote stored and the names revealed.

The server runs from a foreign working directory with no PYTHONPATH, so this also proves that
`dashboards/app.py` makes the project importable when it is not pip-installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from db import Database
from db.models_arena import Vote
from tests.dashboards.seed import HTML_ANSWER, add_answers, add_model

CHROMIUM = Path("/usr/bin/chromium")
APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit not healthy at {url} after {timeout:.0f} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    """A seeded store (2 models, 2 prompts, their answers) and a real server on a free port."""
    db_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    database = Database(db_url)
    add_model(database, "alpha-7b")
    add_model(database, "beta-7b")
    add_answers(
        database, {"alpha-7b": [HTML_ANSWER, f"第二题：{HTML_ANSWER}"], "beta-7b": ["**加粗**的回答", "另一个回答"]}
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(EVALS_DB_URL=db_url, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1"]  # fmt: skip
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        yield url, database
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        database.dispose()


def test_vote_in_chromium(server: tuple[str, Database], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, database = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # The vote page is the default (root URL); its own path, the link people share, serves it too
            # without Streamlit's "Page not found" dialog.
            page.goto(f"{url}/vote", wait_until="domcontentloaded")
            main = page.get_by_test_id("stMain")
            vote_a = main.get_by_role("button", name="A 更好")
            expect(vote_a).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Page not found")).to_have_count(0)
            expect(main).not_to_contain_text("alpha-7b")  # anonymous before the vote
            # An answer's raw HTML is shown as text, never rendered: no injected <b> or <script> element.
            expect(main.get_by_text("<b>bold-injection</b>", exact=False)).to_be_visible()
            assert page.locator("b", has_text="bold-injection").count() == 0
            assert page.locator("script", has_text="alert").count() == 0
            vote_a.click()
            revealed = main.get_by_text("模型A")
            expect(revealed).to_be_visible(timeout=20_000)
            expect(main).to_contain_text("alpha-7b")
            expect(main).to_contain_text("beta-7b")
            expect(main.get_by_role("button", name="下一场")).to_be_visible()
            page.screenshot(path=str(tmp_path / "vote_revealed.png"), full_page=True)
        finally:
            browser.close()
    with database.session(write=False) as s:
        votes = list(s.scalars(select(Vote)))
    assert len(votes) == 1 and votes[0].outcome == "model_a"
    print(f"screenshot: {tmp_path / 'vote_revealed.png'}")
