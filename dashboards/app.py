"""Leitai dashboard: `evals dashboard` (or `streamlit run dashboards/app.py`).

One multipage app; this entry script draws the shared sidebar (language switch) and routes to
one file per page under `views/`. Pages only read through `db/` or call `arena/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the project importable when it is not pip-installed.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dashboards.data import database  # noqa: E402
from dashboards.i18n import language_toggle, t  # noqa: E402

st.set_page_config(page_title="Leitai 擂台", page_icon=":material/stadium:", layout="wide")
language_toggle()

try:
    st.sidebar.caption(t("数据库", "Store") + f": `{database().url}`")
except Exception as exc:  # DatabaseUnavailable and friends: say so instead of a traceback
    st.error(t("无法打开数据库：", "Cannot open the database: ") + str(exc))
    st.stop()

# Not "pages/": Streamlit treats a pages/ folder next to the entry script as the old automatic
# multipage mode, which serves a deep link such as /vote without running this script first.
PAGES = Path(__file__).resolve().parent / "views"
# (file, Chinese title, English title, icon, url path); the first is the default page, served at "/".
VIEWS = (
    ("vote.py", "投票", "Vote", "how_to_vote", "vote"),
    ("leaderboard.py", "排行榜", "Leaderboard", "leaderboard", "leaderboard"),
    ("eval_explorer.py", "评测", "Evals", "bar_chart", "evals"),
    ("models.py", "模型", "Models", "account_tree", "models"),
    ("runs.py", "运行", "Runs", "list_alt", "runs"),
)
nav = st.navigation(
    [
        st.Page(str(PAGES / file), title=t(zh, en), icon=f":material/{icon}:", url_path=path, default=k == 0)
        for k, (file, zh, en, icon, path) in enumerate(VIEWS)
    ]
)
nav.run()
