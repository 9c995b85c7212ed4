"""Leitai dashboard: `evals dashboard` (or `streamlit run dashboards/app.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the project importable when it is not pip-installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

st.set_page_config(page_title="Leitai 擂台", page_icon="🏟️", layout="wide")

PAGES = Path(__file__).resolve().parent / "pages"
nav = st.navigation(
    [
        st.Page(str(PAGES / "runs.py"), title="运行 Runs", icon="📋", default=True),
    ]
)
nav.run()
