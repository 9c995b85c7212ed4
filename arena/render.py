"""Model answers as voters see them: Markdown rendered to safe HTML, and the visible text of it.

One rendering serves both the page and the identity-leak filter, so the filter reads exactly what
a voter reads: `&#67;hatGPT`, `Q&#119;en` and `Chat**GPT**` all render as a name and are caught.

Safety rules of the HTML (a model's answer is untrusted input):
- raw HTML in an answer is escaped (shown as text), never rendered;
- images are never fetched: each becomes a plain link to its address ("图片: alt"), so no
  tracking pixel loads when the answer is shown;
- only http(s) and mailto links stay links; `javascript:`, `data:`, `vbscript:`, `file:` and
  relative targets are rendered as inert text.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Zero-width and bidi control characters render as nothing but would split a name for a regex.
_INVISIBLE = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_TAG = re.compile(r"<[^>]*>")


@cache
def _md() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    md.enable(["table", "strikethrough"])
    # markdown-it's own check drops javascript:/vbscript:/file: and most data: URLs; ours is stricter.
    md.validateLink = _safe_link  # type: ignore[method-assign]
    return md


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(SAFE_SCHEMES)


def _defang(tokens: list[Token]) -> None:
    """Images -> links (never fetched); links with unsafe targets -> their text only."""
    from markdown_it.token import Token

    for tok in tokens:
        if tok.children:
            out: list[Token] = []
            skip_close = 0
            for child in tok.children:
                if child.type == "image":
                    src = str(child.attrGet("src") or "")
                    alt = child.content or ""
                    label = Token("text", "", 0, content=f"图片: {alt}" if alt else "图片")
                    if src.lower().startswith(("http://", "https://")):
                        out += [Token("link_open", "a", 1, attrs={"href": src}), label, Token("link_close", "a", -1)]
                    else:
                        out.append(label)
                elif child.type == "link_open":
                    href = str(child.attrGet("href") or "")
                    if href.strip().lower().startswith(SAFE_SCHEMES):
                        child.attrSet("rel", "noopener noreferrer nofollow")
                        child.attrSet("target", "_blank")
                        out.append(child)
                    else:
                        skip_close += 1
                elif child.type == "link_close" and skip_close:
                    skip_close -= 1
                else:
                    out.append(child)
            tok.children = out


def render_html(markdown: str) -> str:
    """Safe HTML for an answer (see the module docstring)."""
    md = _md()
    tokens = md.parse(_INVISIBLE.sub("", markdown or ""))
    _defang(tokens)
    return str(md.renderer.render(tokens, md.options, {}))


def visible_text(markdown: str) -> str:
    """The text a voter reads once `markdown` is rendered: markup gone, entities decoded.

    Tags are replaced by nothing (inline emphasis joins: Chat**GPT** -> ChatGPT), block ends keep a
    line break, so words of different paragraphs never glue together.
    """
    rendered = render_html(markdown)
    rendered = re.sub(r"</(p|li|h[1-6]|pre|blockquote|td|th|tr)>|<br\s*/?>", "\n", rendered)
    return _INVISIBLE.sub("", html.unescape(_TAG.sub("", rendered)))
