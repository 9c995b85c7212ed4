"""Answers as voters see them (arena.render) and the leak filter reading that rendering."""

from __future__ import annotations

import pytest

from arena.leaks import LeakChecker
from arena.render import render_html, visible_text


@pytest.mark.parametrize(
    ("answer", "name"),
    [("我是&#67;hatGPT。", "ChatGPT"), ("我是 Q&#119;en，由阿里云开发。", "Qwen"), ("作为 Chat**GPT**，", "ChatGPT"),
     ("我是&#x901A;义千问", "通义千问"), ("Chat\u200bGPT 在此", "ChatGPT"), ("*Clau*de 为您服务", "Claude"),
     ("我叫Kimi&nbsp;。", "Kimi"), ("`DeepSeek`", "DeepSeek")],
)  # fmt: skip
def test_names_hidden_in_markup_are_caught(answer: str, name: str) -> None:
    assert name in visible_text(answer)
    assert LeakChecker().find(answer), answer


def test_clean_and_raw_html_answers() -> None:
    checker = LeakChecker()
    assert checker.find("海纳百川，有容乃大。") == []
    # Raw HTML is shown as text, not rendered: "Ch<b>at</b>GPT" reads as markup, not as a name.
    assert "<b>" in visible_text("Ch<b>at</b>GPT") and checker.find("Ch<b>at</b>GPT") == []


def test_images_are_never_fetched_and_unsafe_links_are_inert() -> None:
    html = render_html(
        "![pixel](http://tracker.example/p.gif) ![local](/etc/x.png) [x](javascript:alert(1)) "
        "[d](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.org) <img src=http://t.example/i.png>"
    )
    assert "<img" not in html  # neither the Markdown image nor the raw tag becomes an element
    assert '<a href="http://tracker.example/p.gif"' in html and "图片: pixel" in html  # a link, shown, not loaded
    assert 'href="javascript' not in html and 'href="data:' not in html and 'href="/etc' not in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow" target="_blank">ok</a>' in html
    assert "&lt;img src=http://t.example/i.png&gt;" in html
