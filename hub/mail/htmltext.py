"""HTML mail bodies as plain text the form reader understands.

Outlook sends referral forms as tables: each two-cell row becomes "label: value", and a
heading ("<h3>Victim</h3>") becomes the section marker "== Victim ==". Script and style
content is dropped entirely; entities are unescaped. The markup is split into tags and
text by :mod:`hub.mail.htmltokens`, in one linear pass (the standard library parser is
quadratic on unclosed constructs). The result is text, never markup: nothing from here
is ever rendered as HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hub.mail.htmltokens import End, Text, tokens

MAX_HTML_CHARS = 1_000_000
# Real layouts nest a few tables; each level re-joins the text inside it, so unbounded
# nesting would make hostile markup quadratic.
MAX_TABLE_DEPTH = 8

_SKIPPED = frozenset(("script", "style"))
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_BLOCKS = frozenset(
    (
        "p", "div", "br", "li", "ul", "ol", "dl", "dd", "blockquote", "pre", "hr",
        "section", "article", "header", "footer", "caption", "center", "form", "fieldset",
    )
)  # fmt: skip
_BLANK_RUNS = re.compile(r"\n{3,}")
_LINE_SPACE = re.compile(r"[ \t\u00a0\r\f\v]+")


@dataclass
class _Table:
    """One open <table>: its current row and cell, and where its rows are written."""

    outer: list[str]
    row: list[str] | None = None
    cell: list[str] | None = None
    cell_is_block: bool = False
    row_is_block: bool = False


@dataclass
class _State:
    out: list[str] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    heading: list[str] | None = None
    skipping: int = 0
    ignored_tables: int = 0  # tables nested past MAX_TABLE_DEPTH, read as plain rows


def _squash(text: str) -> str:
    """Lines of a cell on one line: "14 Larch St<br>Preston" -> "14 Larch St, Preston"."""
    parts = [" ".join(line.split()) for line in text.split("\n")]
    # Joined once at the end: growing one string per line was quadratic in the cell.
    out: list[str] = []
    for part in filter(None, parts):
        if out:
            out.append(" " if out[-1][-1] in ".,;:!?" else ", ")
        out.append(part)
    return "".join(out)


class _TextExtractor:
    """Collects text, turning table rows into "label: value" lines and headings into markers."""

    def __init__(self) -> None:
        self.state = _State()

    def feed(self, markup: str) -> None:
        """Read every tag and text of ``markup``, in order."""
        for token in tokens(markup):
            if isinstance(token, Text):
                self.handle_data(token.text)
            elif isinstance(token, End):
                self.handle_endtag(token.name)
            elif token.closed:
                self.handle_startendtag(token.name)
            else:
                self.handle_starttag(token.name)

    def _sink(self) -> list[str]:
        state = self.state
        if state.heading is not None:
            return state.heading
        if state.tables:
            table = state.tables[-1]
            return table.cell if table.cell is not None else table.outer
        return state.out

    def handle_starttag(self, tag: str) -> None:
        state = self.state
        if tag in _SKIPPED:
            state.skipping += 1
        elif tag in _HEADINGS:
            self._sink().append("\n")
            state.heading = []
        elif tag == "table":
            self._mark_block()
            if len(state.tables) < MAX_TABLE_DEPTH:
                state.tables.append(_Table(outer=self._sink()))
            else:
                state.ignored_tables += 1
        elif tag == "tr" and state.tables:
            self._end_row(state.tables[-1])
            state.tables[-1].row = []
        elif tag in ("td", "th") and state.tables:
            table = state.tables[-1]
            self._end_cell(table)
            if table.row is None:
                table.row = []
            table.cell = []
        elif tag == "dt":
            self._sink().append("\n")
        elif tag in _BLOCKS or tag in ("tr", "td", "th"):
            self._sink().append("\n")

    def handle_startendtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            return  # "<script/>" opens nothing
        self.handle_starttag(tag)

    def handle_endtag(self, tag: str) -> None:
        state = self.state
        if tag in _SKIPPED:
            state.skipping = max(0, state.skipping - 1)
        elif tag in _HEADINGS and state.heading is not None:
            title = " ".join("".join(state.heading).split())
            state.heading = None
            self._mark_block()
            if title:
                self._sink().append(f"\n== {title} ==\n")
        elif tag == "table" and state.ignored_tables:
            state.ignored_tables -= 1
        elif tag == "table" and state.tables:
            table = state.tables.pop()
            self._end_row(table)
            table.outer.append("\n")
        elif tag == "tr" and state.tables:
            self._end_row(state.tables[-1])
        elif tag in ("td", "th") and state.tables:
            self._end_cell(state.tables[-1])
        elif tag == "dt":
            self._sink().append(": ")
        elif tag in _BLOCKS:
            self._sink().append("\n")

    def handle_data(self, data: str) -> None:
        if not self.state.skipping:
            self._sink().append(data)

    def _mark_block(self) -> None:
        """A table or heading inside a cell: that cell holds blocks, not a single value."""
        if self.state.tables and self.state.tables[-1].cell is not None:
            self.state.tables[-1].cell_is_block = True

    @staticmethod
    def _end_cell(table: _Table) -> None:
        if table.cell is None:
            return
        if table.row is None:
            table.row = []
        table.row.append("".join(table.cell))
        table.row_is_block = table.row_is_block or table.cell_is_block
        table.cell, table.cell_is_block = None, False

    def _end_row(self, table: _Table) -> None:
        self._end_cell(table)
        row, block = table.row, table.row_is_block
        table.row, table.row_is_block = None, False
        if not row:
            return
        if block or len(row) == 1:
            # A layout table around the real form: keep each cell's lines as they are.
            table.outer.append("\n" + "\n".join(row) + "\n")
            return
        cells = [_squash(cell) for cell in row]
        while len(cells) > 2 and not cells[-1]:
            cells.pop()
        label = cells[0].rstrip(":").rstrip()
        if len(cells) % 2 == 0:
            pairs = zip(cells[0::2], cells[1::2], strict=True)
            line = "\n".join(f"{name.rstrip(':').rstrip()}: {value}" for name, value in pairs)
        else:
            line = f"{label}: {' '.join(filter(None, cells[1:]))}"
        table.outer.append(f"\n{line}\n")

    def text(self) -> str:
        """All text so far, closing whatever the markup left open (tables, a heading)."""
        state = self.state
        while state.tables:  # unclosed tables still hold rows worth reading
            self._end_row(state.tables.pop())
        if state.heading is not None:
            state.out.append(" ".join("".join(state.heading).split()))
            state.heading = None
        return "".join(state.out)


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body; whatever the markup, this returns a string, in
    time linear in the markup (capped at :data:`MAX_HTML_CHARS`)."""
    extractor = _TextExtractor()
    extractor.feed(markup[:MAX_HTML_CHARS])
    lines = (_LINE_SPACE.sub(" ", line).strip() for line in extractor.text().split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
