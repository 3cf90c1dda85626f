"""The README and docs/ as the tests read them: code blocks with their markers, headings with
the anchors GitHub gives them, and relative links.

A code block of a language programs are written in (Python, YAML, TypeScript, Go) says what it
is on the line before its fence: `<!-- program -->`, a whole program that
tests/engine/test_docs_programs.py runs, or `<!-- excerpt -->`, a part of one that no test runs
as it stands. tests/unit/test_docs.py holds the pages to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
REFERENCE = DOCS / "reference"  # written from the schema (make sdk): not edited by hand
# The languages of programs, as fences name them.
PROGRAM_LANGUAGES = {
    "python": "python",
    "yaml": "yaml",
    "ts": "typescript",
    "typescript": "typescript",
    "go": "go",
}
MARKER = re.compile(r"^\s*<!-- (program|excerpt) -->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the text may span lines.
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, from 1
    language: str  # as the fence names it
    text: str  # without the fence's indentation
    marker: str | None  # "program", "excerpt", or None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def pages() -> list[Path]:
    """The README and every page under docs/, the generated reference included."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def written_pages() -> list[Path]:
    """The pages written by hand: the README and docs/, not docs/reference/."""
    return [p for p in pages() if REFERENCE not in p.parents]


def guides() -> list[Path]:
    """The guides: docs/*.md but the Pulumi Registry's pages (`_index.md` and the
    installation page are guides too: the first one)."""
    return [p for p in sorted(DOCS.glob("*.md")) if p.name != "_index.md"]


def _front_matter_end(lines: list[str]) -> int:
    """The index of the first line after a leading `---` front matter block (0 if none)."""
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                return i + 1
    return 0


def _split(path: Path) -> tuple[list[str], list[Block]]:
    """The page's lines outside code blocks (a code block's lines blanked, so numbering and
    paragraphs stay) and its code blocks."""
    lines = path.read_text().split("\n")
    prose = list(lines)
    for i in range(_front_matter_end(lines)):
        prose[i] = ""
    found: list[Block] = []
    i = _front_matter_end(lines)
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language = opening[1], opening[2], opening[3]
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : end]
        ]
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(before)
        found.append(
            Block(path, i + 1, language, "\n".join(body) + "\n", marker[1] if marker else None)
        )
        for j in range(i, min(end + 1, len(lines))):
            prose[j] = ""
        i = end + 1
    return prose, found


def blocks(path: Path) -> list[Block]:
    return _split(path)[1]


def prose(path: Path) -> str:
    """The page without its front matter and code blocks, and without inline code spans."""
    text = "\n".join(_split(path)[0])
    return re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m[0]), text, flags=re.S)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (links and code marks dropped), lower case,
    without punctuation, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[*`]", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings, a repeated one as GitHub numbers it (`-1`, `-2`)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _split(path)[0]:
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The page's relative links (no scheme), as written: `file.md`, `file.md#anchor`,
    `#anchor`."""
    return [m[2] for m in LINK.finditer(prose(path)) if not SCHEME.match(m[2])]


def programs() -> list[Block]:
    """Every block marked as a program, in the README and docs/, once per distinct program
    (the README shows some of the docs' programs again)."""
    seen: set[tuple[str, str]] = set()
    found: list[Block] = []
    for page in written_pages():
        for block in blocks(page):
            key = (PROGRAM_LANGUAGES.get(block.language, block.language), block.text)
            if block.marker == "program" and key not in seen:
                seen.add(key)
                found.append(block)
    return found
