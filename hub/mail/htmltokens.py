"""Splitting HTML into tags and text in one pass: linear in the markup, whatever it is.

The standard library's ``html.parser`` re-scans the rest of the document from every
construct it cannot finish (an unclosed ``<a``, ``</``, ``<?`` or ``<!--``), so 200 kB of
``<a`` took 47 s there. Here every step either moves past what it has read or, at a
construct that never ends, consumes the rest of the document, as HTML5 does at end of
file inside a tag or a comment (WHATWG HTML, 13.2.5 "Tokenization": an EOF in a tag
drops the tag, an EOF in a comment ends the comment). Each search starts where the
last one stopped, so the whole pass reads every character a bounded number of times.

Only what the text extractor needs is produced: start tags (with whether they close
themselves), end tags and text with its character references resolved. Attributes are
skipped, quotes respected (``<td title="a>b">``); the content of ``<script>`` and
``<style>`` is raw text up to its own end tag, as in the standard library parser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

# A tag's name; what follows it up to the ">" that is outside quotes. Possessive
# quantifiers never give back what they matched, so a failed match costs what it read.
_NAME = re.compile(r"[A-Za-z][^\s/>]*+")
_TAG_REST = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_RAW_TEXT = frozenset(("script", "style"))
_RAW_END = {name: re.compile(f"</{name}(?=[\\s/>])", re.IGNORECASE) for name in _RAW_TEXT}


@dataclass(frozen=True)
class Start:
    """``<name ...>``, or ``<name .../>`` when ``closed``."""

    name: str
    closed: bool


@dataclass(frozen=True)
class End:
    """``</name>``."""

    name: str


@dataclass(frozen=True)
class Text:
    """Text between tags, character references resolved."""

    text: str


Token = Start | End | Text


def unescape(text: str) -> str:
    """``&amp;`` and friends resolved; text whose references cannot be read stays as is
    (``&#`` with thousands of digits exceeds Python's integer-string limit)."""
    if "&" not in text:
        return text
    try:
        return html.unescape(text)
    except (ValueError, OverflowError):
        return text


def tokens(markup: str) -> Iterator[Token]:
    """Tags and text of ``markup``, in order, in one linear pass."""
    position, size = 0, len(markup)
    while position < size:
        opening = markup.find("<", position)
        if opening == -1:
            yield Text(unescape(markup[position:]))
            return
        if opening > position:
            yield Text(unescape(markup[position:opening]))
        position = yield from _construct(markup, opening)


def _construct(markup: str, opening: int) -> Generator[Token, None, int]:
    """The construct at ``markup[opening] == "<"``; returns where reading goes on."""
    after = markup[opening + 1 : opening + 4]
    if after.startswith("!--"):
        return _past(markup, "-->", opening + 4)
    if after[:1] in ("!", "?"):
        return _past(markup, ">", opening + 2)  # doctype, CDATA, processing instruction
    closing = after.startswith("/")
    name = _NAME.match(markup, opening + 2 if closing else opening + 1)
    if name is None:
        if closing:
            return _past(markup, ">", opening + 2)  # "</>", "</ x>": nothing
        yield Text("<")  # "a < b": a literal "<"
        return opening + 1
    rest = _TAG_REST.match(markup, name.end())
    if rest is None:
        return len(markup)  # a tag that never ends: the rest is inside it
    tag = name.group(0).lower()
    if closing:
        yield End(tag)
        return rest.end()
    self_closing = rest.group(0).endswith("/>")
    yield Start(tag, self_closing)
    if tag in _RAW_TEXT and not self_closing:
        return (yield from _raw_text(markup, tag, rest.end()))
    return rest.end()


def _raw_text(markup: str, tag: str, start: int) -> Generator[Token, None, int]:
    """The content of ``<script>``/``<style>``: text up to its own end tag."""
    end = _RAW_END[tag].search(markup, start)
    stop = len(markup) if end is None else end.start()
    if stop > start:
        yield Text(markup[start:stop])
    return stop


def _past(markup: str, terminator: str, start: int) -> int:
    """Just past the next ``terminator``, or the end when there is none."""
    found = markup.find(terminator, start)
    return len(markup) if found == -1 else found + len(terminator)
