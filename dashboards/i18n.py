"""Chinese-first UI text with an English toggle (one sidebar switch, kept in `st.session_state`)."""

from __future__ import annotations

import streamlit as st

LANG_KEY = "lang_en"  # session-state key of the choice; True = English
_WIDGET_KEY = "_lang_toggle"


def language_toggle() -> None:
    """Draw the sidebar switch; app.py calls it on every run so every page sees the same choice.

    The choice lives under its own key, not the widget's: Streamlit drops a widget's state when
    a run does not draw it (e.g. during a page switch), and the language must survive that.
    """
    if LANG_KEY not in st.session_state:  # a reload starts a new session: the URL remembers the choice
        st.session_state[LANG_KEY] = st.query_params.get("lang") == "en"
    if st.session_state[LANG_KEY] and st.query_params.get("lang") != "en":  # page switches drop the URL's params
        st.query_params["lang"] = "en"

    def _changed() -> None:
        st.session_state[LANG_KEY] = bool(st.session_state[_WIDGET_KEY])
        if st.session_state[LANG_KEY]:
            st.query_params["lang"] = "en"
        elif "lang" in st.query_params:
            del st.query_params["lang"]

    st.sidebar.toggle("English", value=bool(st.session_state[LANG_KEY]), key=_WIDGET_KEY, on_change=_changed,
                      help="界面语言 / UI language")  # fmt: skip


def lang() -> str:
    """ "zh" (default) or "en"."""
    return "en" if st.session_state.get(LANG_KEY) else "zh"


def t(zh: str, en: str) -> str:
    """The text in the current language."""
    return en if lang() == "en" else zh
