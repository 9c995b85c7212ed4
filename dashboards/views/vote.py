"""投票 Vote: 实时对战 (live: the voter's own question, two pool models stream their answers) or
题库模式 (bank: pre-generated answers to the question bank). Live is the default once the live
pool has two models. The pages themselves are `dashboards/vote_live.py` and `dashboards/vote_bank.py`.
"""

from __future__ import annotations

import os
import uuid

import streamlit as st

from arena.live_pool import list_pool
from dashboards import vote_bank, vote_live
from dashboards.data import database
from dashboards.i18n import t
from dashboards.voter import voter_id

if "session_id" not in st.session_state:
    st.session_state.session_id = uuid.uuid4().hex  # battles are bound to the browser session
db = database()
sid = st.session_state.session_id
voter = voter_id()  # signed cookie: survives reloads, carries the rate limit and daily cap

st.title(t("投票", "Vote"))
live_ready = len(list_pool(db, enabled_only=True)) >= 2
modes = {"live": t("实时对战", "Live battle"), "bank": t("题库模式", "Question bank")}
if "vote_mode" not in st.session_state:
    st.session_state.vote_mode = "live" if live_ready else "bank"
mode = st.segmented_control(
    t("模式", "Mode"), list(modes), format_func=modes.__getitem__, key="vote_mode", label_visibility="collapsed"
)
mode = mode or ("live" if live_ready else "bank")  # a second click deselects: keep a mode
if mode == "live" and live_ready:
    vote_live.show(db, sid, voter)
elif mode == "live":
    st.info(
        t(
            "实时对战还没有开放：需要至少两个实时模型。",
            "Live battles are not open yet: the live pool needs two models.",
        )
    )
    if os.environ.get("EVALS_DASHBOARD_PUBLIC") != "1":  # commands are for the operator, not voters
        st.code("evals arena pool add NAME --base-url http://HOST:8000/v1 --served-model-name NAME\n"
                "evals arena pool add NAME --model CHECKPOINT_DIR", language="bash", wrap_lines=True)  # fmt: skip
else:
    vote_bank.show(db, sid, voter)
