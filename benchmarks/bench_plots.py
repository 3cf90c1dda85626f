"""The benchmarks' plots, as SVG in docs/, made from benchmarks/results.json.

- docs/bench-customers.svg: one `pulumi up` of N customers (waiting.py): its wall time, with
  the engine's checkpoints and without, and its API calls, against N;
- docs/bench-preview.svg: `pulumi preview` of one Build against the size of its context
  (edit_preview.py), beside what the program did before (compress it all);
- docs/bench-cli.svg: ours beside the official CLI: contextHash (context_hash.py) and the
  upload of the archive (upload.py), time and peak memory.

Hand-written SVG, standard library only: the same results give the same bytes, so
tests/unit/test_bench_tables.py can tell a plot that was not made again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench_results import REPO

DOCS = REPO / "docs"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
BLUE, ORANGE, GREEN, RED, GREY = "#1f6fb2", "#e07b18", "#2f9e44", "#c92a2a", "#868e96"
INK, FAINT = "#212529", "#dee2e6"


def _n(v: float) -> str:
    return f"{v:.1f}".removesuffix(".0")


class Svg:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = [
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
        ]

    def line(
        self, x1: float, y1: float, x2: float, y2: float, stroke: str = INK, width: float = 1
    ) -> None:
        self.parts.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
            f'stroke="{stroke}" stroke-width="{_n(width)}"/>'
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.parts.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" fill="{fill}"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: int = 12,
        anchor: str = "start",
        fill: str = INK,
        bold: bool = False,
        rotate: bool = False,
    ) -> None:
        extra = ' font-weight="bold"' if bold else ""
        if rotate:
            extra += f' transform="rotate(-90 {_n(x)} {_n(y)})"'
        self.parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{extra}>{escape(text)}</text>'
        )

    def polyline(
        self, points: Sequence[tuple[float, float]], stroke: str, dashed: bool = False
    ) -> None:
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        self.parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{stroke}" stroke-width="2.5"{dash}/>'
        )

    def dot(self, x: float, y: float, fill: str) -> None:
        self.parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{fill}"/>')

    def render(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
            f'font-family="{FONT}">'
        )
        return "\n".join([head, *self.parts, "</svg>"]) + "\n"


def ticks(top: float, count: int = 5) -> list[float]:
    """Round steps from 0 past `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def label(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:g}"


@dataclass
class Series:
    name: str
    color: str
    points: list[tuple[float, float]]
    dashed: bool = False


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)


def line_panel(svg: Svg, x0: float, y0: float, w: float, h: float, panel: Panel) -> None:
    """Axes from 0, a line and dots per series, a legend at the top left."""
    # The legend above the plotting area, so that it never hides a line.
    legend = y0 + (30 if panel.title else 10)
    left, bottom = x0 + 62, y0 + h - 44
    right, top = x0 + w - 16, legend + 18 * len(panel.series) + 8
    xs = [x for s in panel.series for x, _ in s.points]
    ys = [y for s in panel.series for _, y in s.points]
    xt, yt = ticks(max(xs, default=1)), ticks(max(ys, default=1) * 1.05)

    def px(x: float) -> float:
        return left + (right - left) * x / xt[-1]

    def py(y: float) -> float:
        return bottom - (bottom - top) * y / yt[-1]

    if panel.title:
        svg.text(x0 + w / 2, y0 + 16, panel.title, 14, "middle", bold=True)
    for y in yt:
        svg.line(left, py(y), right, py(y), FAINT)
        svg.text(left - 6, py(y) + 4, label(y), 11, "end")
    for x in xt:
        svg.line(px(x), bottom, px(x), bottom + 4)
        svg.text(px(x), bottom + 17, label(x), 11, "middle")
    svg.line(left, bottom, right, bottom)
    svg.line(left, bottom, left, top)
    svg.text((left + right) / 2, bottom + 36, panel.xlabel, 12, "middle")
    svg.text(x0 + 14, (top + bottom) / 2, panel.ylabel, 12, "middle", rotate=True)
    for s in panel.series:
        points = [(px(x), py(y)) for x, y in sorted(s.points)]
        svg.polyline(points, s.color, s.dashed)
        for x, y in points:
            svg.dot(x, y, s.color)
    for i, s in enumerate(panel.series):
        ly = legend + 10 + 18 * i
        if s.dashed:
            svg.polyline([(left + 10, ly - 4), (left + 32, ly - 4)], s.color, dashed=True)
        else:
            svg.rect(left + 10, ly - 5.5, 22, 3, s.color)
        svg.text(left + 38, ly, s.name, 12)


@dataclass
class Bar:
    name: str
    color: str
    value: float


@dataclass
class Group:
    name: str
    bars: list[Bar]


def bar_panel(
    svg: Svg, x0: float, y0: float, w: float, title: str, unit: str, groups: list[Group]
) -> float:
    """Horizontal bars in groups, each value written at its end; returns the bottom."""
    svg.text(x0 + w / 2, y0 + 16, title, 14, "middle", bold=True)
    left, right = x0 + 150, x0 + w - 70
    top = max(b.value for g in groups for b in g.bars)
    scale = (right - left) / top if top > 0 else 0.0
    y = y0 + 34
    for g in groups:
        svg.text(x0 + 4, y + 12, g.name, 12, bold=True)
        y += 18
        for b in g.bars:
            svg.rect(left, y, max(b.value * scale, 1.0), 16, b.color)
            svg.text(left - 6, y + 12, b.name, 11, "end")
            value = f"{b.value:.2f}" if b.value < 10 else f"{b.value:,.0f}"
            svg.text(left + max(b.value * scale, 1.0) + 5, y + 12, f"{value} {unit}", 11)
            y += 20
        y += 8
    return y


def subtitle(data: dict[str, Any], *names: str) -> str:
    """The runs a plot comes from: mode, date, load average from start to end."""
    parts = []
    for name in names:
        run = data.get("runs", {}).get(name)
        if run is None:
            continue
        load = run.get("load", {})
        parts.append(
            f"{name} {run.get('mode')} {str(run.get('date'))[:10]}, load "
            f"{load.get('start', [0])[0]:.1f}→{load.get('end', [0])[0]:.1f}"
        )
    machine: dict[str, Any] = next(
        (data["runs"][n]["machine"] for n in names if n in data.get("runs", {})), {}
    )
    return f"{'; '.join(parts)} ({machine.get('cores')} cores, {machine.get('cpu')})"


def _fig(data: dict[str, Any], key: str) -> float | None:
    found = data.get("figures", {}).get(key)
    return None if found is None else float(found["value"])


# -- the plots ------------------------------------------------------------------------------


def customers(data: dict[str, Any]) -> str | None:
    run = data.get("runs", {}).get("waiting")
    if run is None:
        return None
    params = run["params"]
    sizes, ways = params["sizes"], params["ways"]
    names = {"checkpoints": "as usual", "skip": "PULUMI_SKIP_CHECKPOINTS=true"}
    colors = {"checkpoints": BLUE, "skip": GREEN}
    per = "customers (a SecretSet and an Agent each)"
    wall = Panel("Wall time of one pulumi up", per, "seconds")
    calls = Panel("API calls of that up", per, "API calls")
    for way in ways:
        points = [(n, _fig(data, f"waiting.{way}.{n}.seconds")) for n in sizes]
        wall.series.append(
            Series(
                names[way],
                colors[way],
                [(x, y) for x, y in points if y is not None],
                dashed=way == "skip",
            )
        )
        points = [(n, _fig(data, f"waiting.{way}.{n}.calls")) for n in sizes]
        calls.series.append(
            Series(
                names[way],
                colors[way],
                [(x, y) for x, y in points if y is not None],
                dashed=way == "skip",
            )
        )
    svg = Svg(820, 400)
    svg.text(
        410,
        22,
        f"N customers in one pulumi up --parallel 256: deployments of "
        f"{params['deploy_seconds']:g} s, sets of {params['set_seconds']:g} s (emulator)",
        15,
        "middle",
        bold=True,
    )
    svg.text(410, 40, subtitle(data, "waiting"), 11, "middle", GREY)
    line_panel(svg, 0, 50, 410, 350, wall)
    line_panel(svg, 410, 50, 410, 350, calls)
    return svg.render()


def preview(data: dict[str, Any]) -> str | None:
    keys = [
        k
        for k in data.get("figures", {})
        if k.startswith("edit_preview.") and k.endswith(".unchanged.median")
    ]
    if not keys:
        return None
    figures = data["figures"]
    panel = Panel("", "build context (MB)", "seconds")
    lines = [
        ("before: compress the context for its contextHash", "before", RED, True),
        ("preview, empty context cache", "cold.median", ORANGE, False),
        ("preview after a one-line edit", "edit.median", GREEN, False),
        ("preview, unchanged", "unchanged.median", BLUE, False),
    ]
    for name, suffix, color, dashed in lines:
        points = []
        for key in keys:
            at = key.removesuffix(".unchanged.median")
            value = _fig(data, f"{at}.{suffix}")
            if value is not None:
                points.append((figures[key]["params"]["bytes"] / 1e6, value))
        panel.series.append(Series(name, color, points, dashed))
    svg = Svg(820, 440)
    svg.text(
        410,
        22,
        "pulumi preview of one Build against the size of its context (median)",
        15,
        "middle",
        bold=True,
    )
    svg.text(410, 40, subtitle(data, "edit_preview"), 11, "middle", GREY)
    line_panel(svg, 0, 44, 820, 396, panel)
    return svg.render()


def cli(data: dict[str, Any]) -> str | None:
    runs = data.get("runs", {})
    if "context_hash" not in runs and "upload" not in runs:
        return None
    time_groups, memory_groups = [], []
    if "context_hash" in runs:
        size = runs["context_hash"]["params"]["bytes"] / 1e6
        name = f"contextHash, {size:.0f} MB"
        entries = [
            ("official CLI", "official", ORANGE),
            ("ours, cold", "cold", BLUE),
            ("ours, unchanged", "warm", GREEN),
        ]
        time_groups.append(
            Group(
                name,
                [Bar(n, c, _fig(data, f"context_hash.{k}.seconds") or 0) for n, k, c in entries],
            )
        )
        memory_groups.append(
            Group(
                name, [Bar(n, c, _fig(data, f"context_hash.{k}.rss") or 0) for n, k, c in entries]
            )
        )
    if "upload" in runs:
        for size_mb in runs["upload"]["params"]["sizes_mb"]:
            name = f"upload, {size_mb} MB archive"
            entries = [("official CLI", "official", ORANGE), ("ours", "ours", BLUE)]
            time_groups.append(
                Group(
                    name,
                    [
                        Bar(n, c, _fig(data, f"upload.{k}.{size_mb}.seconds") or 0)
                        for n, k, c in entries
                    ],
                )
            )
            memory_groups.append(
                Group(
                    name,
                    [
                        Bar(n, c, _fig(data, f"upload.{k}.{size_mb}.rss") or 0)
                        for n, k, c in entries
                    ],
                )
            )
    bars = sum(len(g.bars) for g in time_groups)
    height = 60 + 34 + 26 * len(time_groups) + 20 * bars + 10
    svg = Svg(820, height)
    svg.text(410, 22, "Ours beside the official CLI (pipecatcloud 1.4.0)", 15, "middle", bold=True)
    svg.text(410, 40, subtitle(data, "context_hash", "upload"), 11, "middle", GREY)
    bar_panel(svg, 0, 50, 410, "Time", "s", time_groups)
    bar_panel(svg, 410, 50, 410, "Peak memory (RSS of the process)", "MiB", memory_groups)
    return svg.render()


PLOTS = {
    "bench-customers.svg": customers,
    "bench-preview.svg": preview,
    "bench-cli.svg": cli,
}


def made(data: dict[str, Any]) -> dict[Path, str]:
    """Each plot's path and text (those whose figures are missing are left out)."""
    out = {}
    for name, plot in PLOTS.items():
        text = plot(data)
        if text is not None:
            out[DOCS / name] = text
    return out


def update(data: dict[str, Any]) -> list[Path]:
    changed = []
    for path, text in made(data).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed
