"""Leitai dashboard: `evals dashboard` (or `streamlit run dashboards/app.py`).

One multipage app; this entry script draws the shared sidebar (language switch) and routes to
one file per page under `views/`. Pages only read through `db/` or call `arena/`.

Public mode (`evals dashboard --public`, env `EVALS_DASHBOARD_PUBLIC=1`) is for sharing with
voters: only the vote page and the leaderboard are served; the admin pages (evals, models, runs)
appear after the sidebar's admin token matches `EVALS_ADMIN_TOKEN` (never without one). Voters
never see the DB URL, server paths, SQL or tracebacks: an error shows a short id and its details
go to the server log under that id.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the project importable when it is not pip-installed.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dashboards.data import database  # noqa: E402
from dashboards.i18n import language_toggle, t  # noqa: E402

ENV_PUBLIC = "EVALS_DASHBOARD_PUBLIC"
ENV_ADMIN_TOKEN = "EVALS_ADMIN_TOKEN"
PUBLIC = os.environ.get(ENV_PUBLIC, "") == "1"
log = logging.getLogger("leitai.dashboard")


def _fail(exc: BaseException, zh: str, en: str) -> None:
    """Log `exc` with a fresh id; show the voter a short message and the id only (public mode)."""
    error_id = secrets.token_hex(4)
    log.error("dashboard error %s", error_id, exc_info=exc)
    detail = f"{t('错误编号', 'error id')}: {error_id}" if PUBLIC else f"{type(exc).__name__}: {exc}"
    st.error(f"{t(zh, en)} ({detail})")


def _check_admin_token() -> None:
    """Widget callback (runs before the script): unlock on a match; never keep the token itself."""
    given = str(st.session_state.get("_admin_token") or "")
    expected = os.environ.get(ENV_ADMIN_TOKEN, "")
    if given and expected and hmac.compare_digest(given.encode(), expected.encode()):
        st.session_state["_admin_ok"] = True
    st.session_state["_admin_token"] = ""


def _is_admin() -> bool:
    """Local use: always. Public mode: once the sidebar token matched EVALS_ADMIN_TOKEN (never without one)."""
    if not PUBLIC:
        return True
    if not os.environ.get(ENV_ADMIN_TOKEN, ""):
        return False
    if st.session_state.get("_admin_ok"):
        return True
    st.sidebar.text_input(t("管理员令牌", "Admin token"), type="password", key="_admin_token",
                          on_change=_check_admin_token)  # fmt: skip
    return False


st.set_page_config(page_title="Leitai 擂台", page_icon=":material/stadium:", layout="wide")
language_toggle()

try:
    db = database()
except Exception as exc:  # DatabaseUnavailable and friends: say so instead of a traceback
    _fail(exc, "暂时无法打开数据库，请稍后再试。", "The database is unavailable; try again later.")
    st.stop()
if not PUBLIC:
    st.sidebar.caption(t("数据库", "Store") + f": `{db.url}`")

# Not "pages/": Streamlit treats a pages/ folder next to the entry script as the old automatic
# multipage mode, which serves a deep link such as /vote without running this script first.
PAGES = Path(__file__).resolve().parent / "views"
# (file, Chinese title, English title, icon, url path, admin only); the first is the default page, at "/".
VIEWS = (
    ("vote.py", "投票", "Vote", "how_to_vote", "vote", False),
    ("leaderboard.py", "排行榜", "Leaderboard", "leaderboard", "leaderboard", False),
    ("eval_explorer.py", "评测", "Evals", "bar_chart", "evals", True),
    ("models.py", "模型", "Models", "account_tree", "models", True),
    ("runs.py", "运行", "Runs", "list_alt", "runs", True),
    ("perf.py", "性能", "Performance", "speed", "perf", True),
)
admin = _is_admin()
pages = [
    st.Page(str(PAGES / file), title=t(zh, en), icon=f":material/{icon}:", url_path="home" if k == 0 else path,
            default=k == 0)
    for k, (file, zh, en, icon, path, admin_only) in enumerate(VIEWS)
    if admin or not admin_only
]  # fmt: skip
# The default page is served at "/" and Streamlit answers its url_path with a "Page not found" dialog, so
# the vote page's own path (/vote, a link people share) is a hidden second entry for the same file.
file, zh, en, icon, path, _ = VIEWS[0]
pages.append(st.Page(str(PAGES / file), title=t(zh, en), icon=f":material/{icon}:", url_path=path, visibility="hidden"))
nav = st.navigation(pages)
try:
    nav.run()
except Exception as exc:  # st.stop / st.rerun are BaseExceptions and pass through
    _fail(exc, "出错了，请刷新页面重试。", "Something went wrong; reload the page.")
