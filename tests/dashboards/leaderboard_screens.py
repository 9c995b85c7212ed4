"""Screenshots of the 排行榜 in Chromium at 1400x900 and 390x844, with 3 and 50 models.

Starts `streamlit run dashboards/app.py` on a seeded SQLite store per case and saves full-page
PNGs plus the pixel size of every rendered chart (so a collapsed heatmap shows up as a number):

    PYTHONPATH=. python tests/dashboards/leaderboard_screens.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, n_models: int) -> None:
    from db import Database

    database = Database(url)
    if n_models <= 3:
        from tests.dashboards.seed import add_votes, seed_all

        seed_all(database)
        add_votes(database, 16, prefer="qwen-sft")
    else:
        from tests.arena.test_board_snapshot import _fill

        _fill(database, n_models, 60 * n_models)
    database.dispose()


def shoot(out: Path, n_models: int, lang: str = "zh") -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/screens.db"
        seed(url, n_models)
        port = _free_port()
        env = dict(os.environ, EVALS_DB_URL=url, PYTHONPATH=str(ROOT), EVALS_VOTE_RATE="off")
        cmd = [sys.executable, "-m", "streamlit", "run", "dashboards/app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                for name, (w, h) in SIZES.items():
                    page = browser.new_page(viewport={"width": w, "height": h})
                    query = "?lang=en" if lang == "en" else ""
                    for _ in range(60):
                        try:
                            page.goto(f"http://127.0.0.1:{port}/leaderboard{query}", timeout=10_000)
                            break
                        except Exception:
                            time.sleep(1)
                    page.wait_for_selector("[data-testid='stDataFrame']", timeout=90_000)
                    page.wait_for_timeout(4000)  # charts render after the table
                    # Streamlit scrolls an inner container: grow the viewport to the page's height to see it all
                    full = page.evaluate(
                        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], section')]"
                        ".map(e => e.scrollHeight))"
                    )
                    page.set_viewport_size({"width": w, "height": max(h, int(full) + 40)})
                    page.wait_for_timeout(2500)
                    charts = page.eval_on_selector_all(
                        "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg",
                        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
                    )
                    path = out / f"leaderboard_{n_models}models_{name}_{lang}.png"
                    page.screenshot(path=str(path), full_page=True)
                    results.append({"file": path.name, "charts_px": charts, "viewport": [w, h]})
                    page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/leaderboard_screens")
    out.mkdir(parents=True, exist_ok=True)
    report = shoot(out, 3) + shoot(out, 50) + shoot(out, 3, lang="en")
    print(json.dumps(report, indent=1))
