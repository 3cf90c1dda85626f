"""The emulator's dashboard as a user sees it: its tables read from the HTML, and headless
Chromium (scripts/install-chromium, `make chromium`) to load it in a real browser.

    rows = tables(html)["agents"]   # each row: {column header: cell text, "@data-agent": ...}
    dom = Browser(tmp_path).dom(url)  # the DOM once the page has loaded and its scripts ran
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The browser: $CHROMIUM, else the first of BROWSERS on PATH."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        raise RuntimeError("no Chromium on PATH: run scripts/install-chromium (make chromium)")
    return found


class Browser:
    """Headless Chromium with a profile of its own under `folder` (two at once must not share
    one)."""

    def __init__(self, folder: Path) -> None:
        self.profile = folder / "chromium-profile"
        self.argv = [
            chromium(),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile}",
        ]

    def dom(self, url: str, *, wait_ms: int = 0) -> str:
        """The page's DOM once it has loaded; with `wait_ms`, once its scripts have run that
        long (virtual time: its timers fire and its fetches are answered)."""
        extra = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
        done = subprocess.run(
            [*self.argv, *extra, "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def screenshot(self, url: str, out: Path, size: str = "1280,900") -> None:
        subprocess.run(
            [*self.argv, "--hide-scrollbars", f"--window-size={size}", f"--screenshot={out}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )


Row = dict[str, str]


class _Tables(HTMLParser):
    """Each `<table id="NAME-table">`'s rows: a cell's text under its column's header, and the
    row's attributes under "@name"."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[Row]] = {}
        self.table: str | None = None
        self.headers: list[str] = []
        self.row: Row | None = None
        self.cells: list[str] = []
        self.text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "table" and attributes.get("id", "").endswith("-table"):
            self.table = attributes["id"].removesuffix("-table")
            self.found[self.table] = []
            self.headers = []
        elif self.table is None:
            return
        elif tag == "tr":
            self.row = {f"@{k}": v for k, v in attributes.items()}
            self.cells = []
        elif tag in ("td", "th"):
            self.text = []

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self.table is None:
            return
        if tag in ("td", "th") and self.text is not None:
            self.cells.append(re.sub(r"\s+", " ", "".join(self.text)).strip())
            self.text = None
        elif tag == "tr" and self.row is not None:
            if not self.headers:
                self.headers = self.cells
            else:
                self.row.update(zip(self.headers, self.cells, strict=False))
                self.found[self.table].append(self.row)
            self.row = None
        elif tag == "table":
            self.table = None


def tables(page: str) -> dict[str, list[Row]]:
    """The page's tables by name (`agents`, `builds`, ...): their rows, as a user reads them."""
    parser = _Tables()
    parser.feed(page)
    return parser.found


def rows_of(page: str, name: str, **attributes: str) -> list[Row]:
    """The rows of table `name` whose attributes are those given (data_agent="bot" is the
    row's data-agent)."""
    wanted = {f"@{k.replace('_', '-')}": v for k, v in attributes.items()}
    return [r for r in tables(page)[name] if all(r.get(k) == v for k, v in wanted.items())]
