"""实时对战 (live mode): the voter asks, two anonymous pool models answer side by side, streaming.

Flow: question (typed, or one of the suggested prompts) -> both answers stream -> follow-ups go to
both -> vote (four buttons, optional per-side tags and a comment) -> names revealed -> 新一轮.
Every write goes through `arena.live`; nothing on the page (text, HTML, widget keys) names a model
before the vote: the names come back only from `record_live_vote` / `reveal_live`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import streamlit as st

from arena.errors import ArenaRefusal, NoBattleAvailable
from arena.live import (
    MAX_COMMENT_CHARS,
    SUGGESTED_PROMPTS,
    TAGS,
    begin_turn,
    record_live_vote,
    reveal_live,
    start_battle,
    validate_question,
)
from arena.render import render_html
from dashboards.i18n import lang, t
from dashboards.voter import client_address_key

CHOICES = (("a", "A 更好", "A is better"), ("b", "B 更好", "B is better"), ("tie", "平局", "Tie"),
           ("bothbad", "都不好", "Both are bad"))  # fmt: skip
FAILURES = {
    "timeout": ("有一个模型响应超时了。", "A model timed out."),
    "server_error": ("有一个模型暂时无法回答（服务出错）。", "A model could not answer (server error)."),
    "empty_answer": ("有一个模型返回了空回答。", "A model returned an empty answer."),
    "model_unavailable": ("有一个模型已下线。", "A model is no longer available."),
}
_KEYS = ("live_battle", "live_turns", "live_failed", "live_result", "live_refusal", "live_origin", "live_round")


def _reset() -> None:
    for key in _KEYS:
        st.session_state[key] = None
    st.session_state.live_turns = []
    st.session_state.live_round = int(st.session_state.get("live_round_no", 0)) + 1
    st.session_state.live_round_no = st.session_state.live_round


def _answer_box(text: str, cursor: bool = False) -> str:
    return render_html(text + (" ▌" if cursor else "")) if text else "<p>…</p>"


def show(db: Any, sid: str, voter: str) -> None:
    if "live_turns" not in st.session_state or st.session_state.live_turns is None:
        _reset()
    s = st.session_state
    st.caption(t("输入你的问题，两个匿名模型同时作答；可以继续追问，读完后投票，投票后揭晓模型名称。",
                 "Ask anything: two anonymous models answer side by side. Follow up, then vote; names are revealed after the vote."))  # fmt: skip

    voted = s.live_result is not None
    over = voted or s.live_failed is not None
    # History of this round.
    for q, a, b in s.live_turns:
        with st.chat_message("user"):
            st.markdown(render_html(q), unsafe_allow_html=True)
        _pair(a, b)

    pending: tuple[str, str] | None = None
    if not s.live_turns and not over:
        st.caption(t("试试这些问题：", "Try one of these:"))
        st.markdown(_WRAP_SUGGESTIONS, unsafe_allow_html=True)
        cols = st.columns(len(SUGGESTED_PROMPTS))
        for k, (col, prompt) in enumerate(zip(cols, SUGGESTED_PROMPTS)):
            if col.button(prompt, key=f"suggest_{s.live_round}_{k}", width="stretch"):
                pending = (prompt, "suggested")
    typed = st.chat_input(t("输入你的问题…", "Type your question…") if not s.live_turns else
                          t("继续追问（两个模型都会收到）…", "Follow up (both models get it)…"),
                          disabled=over, key=f"ask_{s.live_round}")  # fmt: skip
    if typed is not None:
        pending = (typed, "typed")
    if pending is not None:
        _ask(db, sid, voter, *pending)
        over = s.live_failed is not None

    if s.live_refusal is not None:
        st.error(s.live_refusal)
        s.live_refusal = None
    if s.live_failed is not None:
        zh, en = FAILURES.get(s.live_failed, FAILURES["server_error"])
        st.warning(
            t(f"{zh}这一轮不计分，已为你记录。请开始新一轮。", f"{en} This round is not rated. Start a new round.")
        )
    elif s.live_turns and not voted:
        _vote_form(db, sid, voter)
    if s.live_result is not None:
        r = s.live_result
        st.success(f"{t('模型A', 'Model A')}: **{r['model_a']}** / {t('模型B', 'Model B')}: **{r['model_b']}**")
        if r["excluded"]:
            st.warning(t("回答里出现了模型或厂商名称，这一票已记录但不计入排名。",
                         "An answer named a model or vendor: the vote is kept but not rated."))  # fmt: skip
    if over:
        st.button(t("新一轮", "New round"), key="new_round", on_click=_reset, type="primary")


def _pair(a: str, b: str) -> tuple[Any, Any]:
    left, right = st.columns(2)
    boxes = []
    for col, side, text in ((left, "A", a), (right, "B", b)):
        with col:
            st.markdown(f"**{t(f'模型 {side}', f'Model {side}')}**")
            with st.container(border=True):
                box = st.empty()
                box.markdown(_answer_box(text), unsafe_allow_html=True)
                boxes.append(box)
    return boxes[0], boxes[1]


def _ask(db: Any, sid: str, voter: str, question: str, origin: str) -> None:
    s = st.session_state
    try:
        q = validate_question(question)  # refused questions store nothing, not even a battle
        if s.live_battle is None:
            # A model that just failed this voter sits out the next rounds while two others remain.
            s.live_battle = start_battle(db, voter, sid, prompt_origin=origin, avoid=s.get("live_avoid") or ())
        turn = begin_turn(db, s.live_battle.battle_id, sid, q)
    except ArenaRefusal as no:
        s.live_refusal = no.message(lang())
        return
    except NoBattleAvailable:
        s.live_refusal = t(
            "实时对战至少需要两个模型，请稍后再来。", "Live battles need at least two models; come back later."
        )
        return
    with st.chat_message("user"):
        st.markdown(render_html(q), unsafe_allow_html=True)
    box_a, box_b = _pair("", "")
    try:
        while not turn.done():
            a, b = turn.texts()
            box_a.markdown(_answer_box(a, cursor=True), unsafe_allow_html=True)
            box_b.markdown(_answer_box(b, cursor=True), unsafe_allow_html=True)
            time.sleep(0.15)  # a few redraws a second: smooth enough, light on the browser
    except BaseException:  # the run was interrupted (a click, a closed tab): still store both answers
        threading.Thread(target=turn.finish, name="live-turn-finish", daemon=True).start()
        raise
    result = turn.finish()
    box_a.markdown(_answer_box(result.text_a), unsafe_allow_html=True)
    box_b.markdown(_answer_box(result.text_b), unsafe_allow_html=True)
    s.live_turns = [*s.live_turns, (q, result.text_a, result.text_b)]
    if result.failed_reason is not None:
        s.live_failed = result.failed_reason
        s.live_avoid = list(result.failed_models)  # kept server-side in the session, never sent to the page
    st.rerun()  # redraw from the stored turns: suggestions gone, follow-up input, vote form


# A button label is one line cut with "…": a suggested question must be read whole before it is asked.
_WRAP_SUGGESTIONS = (
    "<style>div[class*='st-key-suggest_'] [data-testid='stMarkdownContainer'] "
    "{ white-space: normal; overflow: visible; text-overflow: clip; }"
    "div[class*='st-key-suggest_'] p { white-space: normal; }</style>"
)
# Streamlit lays pills out in one row that scrolls sideways; at phone width the last tag was cut off.
_WRAP_PILLS = "<style>div[data-testid='stButtonGroup'] > div[role='toolbar'] { flex-wrap: wrap; }</style>"


def _vote_form(db: Any, sid: str, voter: str) -> None:
    s = st.session_state
    r = s.live_round
    with st.container(border=True):
        st.markdown(f"**{t('哪边更好？', 'Which is better?')}**")
        st.markdown(_WRAP_PILLS, unsafe_allow_html=True)
        tag_a, tag_b = st.columns(2)
        tags_a = tag_a.pills(
            t("A 的标签（可选）", "Tags for A (optional)"), TAGS, selection_mode="multi", key=f"tags_a_{r}"
        )
        tags_b = tag_b.pills(
            t("B 的标签（可选）", "Tags for B (optional)"), TAGS, selection_mode="multi", key=f"tags_b_{r}"
        )
        comment = st.text_input(
            t("评论（可选）", "Comment (optional)"), max_chars=MAX_COMMENT_CHARS, key=f"comment_{r}"
        )
        for col, (outcome, zh, en) in zip(st.columns(4), CHOICES):
            if col.button(t(zh, en), key=f"live_vote_{outcome}_{r}", width="stretch"):
                _vote(db, sid, voter, outcome, list(tags_a or []), list(tags_b or []), comment or "")


def _vote(db: Any, sid: str, voter: str, outcome: str, tags_a: list[str], tags_b: list[str], comment: str) -> None:
    s = st.session_state
    battle_id = s.live_battle.battle_id
    try:
        res = record_live_vote(db, battle_id, sid, outcome, voter, tags_a=tags_a, tags_b=tags_b, comment=comment,
                               address_key=client_address_key())  # fmt: skip
        s.live_result = {"model_a": res.model_a, "model_b": res.model_b, "excluded": res.excluded}
    except ArenaRefusal as no:
        s.live_refusal = no.message(lang())
        if no.code == "already_voted":
            try:
                a, b = reveal_live(db, battle_id, sid)
                s.live_result = {"model_a": a, "model_b": b, "excluded": False}
            except ArenaRefusal:
                pass
    st.rerun()
