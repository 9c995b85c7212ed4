"""题库模式 (bank mode): an anonymous battle over pre-generated answers to the question bank.

Every write goes through `arena/` (serve_battle, record_vote, reveal). Answers are shown through
`arena.render.render_html`: raw HTML escaped, remote images never fetched, unsafe links inert.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from arena import NoBattleAvailable, RevealRefused, VoteRefused, record_vote, reveal, serve_battle
from arena.render import render_html
from dashboards.i18n import lang, t
from dashboards.voter import client_address_key

CHOICES = (("a", "A 更好", "A is better"), ("b", "B 更好", "B is better"), ("tie", "平局", "Tie"),
           ("bothbad", "都不好", "Both are bad"))  # fmt: skip


def show(db: Any, sid: str, voter: str) -> None:
    for key in ("battle", "result", "refusal"):
        st.session_state.setdefault(key, None)

    def _vote(outcome: str) -> None:
        view = st.session_state.battle
        try:
            res = record_vote(db, view.battle_id, sid, outcome, voter_id=voter, address_key=client_address_key())
            st.session_state.result = {"model_a": res.model_a, "model_b": res.model_b, "excluded": res.excluded}
        except VoteRefused as no:
            st.session_state.refusal = no
            if no.code == "already_voted":  # e.g. a double click: this session may still see the names
                try:
                    a, b = reveal(db, view.battle_id, sid)
                    st.session_state.result = {"model_a": a, "model_b": b, "excluded": False}
                except RevealRefused:
                    pass

    def _next() -> None:
        st.session_state.battle = st.session_state.result = st.session_state.refusal = None

    st.caption(t("两个匿名模型回答题库里的同一个问题。读完两边，选出更好的一方；投票后揭晓模型名称。",
                 "Two anonymous models answer the same bank question. Pick the better one; names are revealed after you vote."))  # fmt: skip
    if st.session_state.battle is None:
        try:
            st.session_state.battle = serve_battle(db, sid)
        except NoBattleAvailable:
            st.info(t("还没有可以对战的回答：至少两个模型要回答过同一批问题。",
                      "No battle yet: at least two models must answer the same questions."))  # fmt: skip
            if os.environ.get("EVALS_DASHBOARD_PUBLIC") != "1":  # commands are for the operator, not voters
                # wrapped: at phone width the long line was cut off at the edge
                st.code("evals arena bank import --default\nevals arena generate --models MODEL_A,MODEL_B",
                        language="bash", wrap_lines=True)  # fmt: skip
            return
    view = st.session_state.battle
    with st.container(border=True):
        st.caption(f"{t('问题', 'Question')} · {view.category}")
        st.markdown(render_html(view.prompt), unsafe_allow_html=True)
    left, right = st.columns(2)
    for col, side, text in ((left, "A", view.answer_a), (right, "B", view.answer_b)):
        with col:
            st.subheader(t(f"模型 {side}", f"Model {side}"))
            with st.container(border=True):
                st.markdown(render_html(text), unsafe_allow_html=True)  # escaped HTML, no remote images

    done = st.session_state.result is not None or st.session_state.refusal is not None
    for col, (outcome, zh, en) in zip(st.columns(4), CHOICES):
        col.button(t(zh, en), key=f"vote_{outcome}", on_click=_vote, args=(outcome,), disabled=done,
                   width="stretch")  # fmt: skip
    refusal = st.session_state.refusal
    if refusal is not None:
        st.error(refusal.message(lang()))
    result = st.session_state.result
    if result is not None:
        st.success(
            f"{t('模型A', 'Model A')}: **{result['model_a']}** / {t('模型B', 'Model B')}: **{result['model_b']}**"
        )
        if result["excluded"]:
            st.warning(t("回答里出现了模型或厂商名称，这一票已记录但不计入排名。",
                         "An answer named a model or vendor: the vote is kept but not rated."))  # fmt: skip
    if done:
        st.button(t("下一场", "Next battle"), key="next", on_click=_next, type="primary")
