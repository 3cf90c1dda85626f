"""The performance tables of the Markdown files and the plots in docs/ are what the committed
benchmarks/results.json makes (benchmarks/bench_tables.py, bench_plots.py). No benchmark
runs here: `make bench` measures, `make bench-render` only writes the tables and plots."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str) -> ModuleType:
    # Only for the import: benchmarks/ holds scripts named like tests' modules (waiting.py).
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


results = _load("bench_results")
tables = _load("bench_tables")
plots = _load("bench_plots")

AGAIN = "run `make bench-render` (or `make bench`, which measures first) and commit the result"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = results.read()
    return loaded


def test_tables_are_what_results_json_makes(data: dict[str, Any]) -> None:
    stale = tables.stale(data)
    assert not stale, f"tables that differ from benchmarks/results.json: {stale}; {AGAIN}"


def test_plots_are_what_results_json_makes(data: dict[str, Any]) -> None:
    made = plots.made(data)
    assert {p.name for p in made} == set(plots.PLOTS), "a plot has no figures in results.json"
    stale = [p.name for p, text in made.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"plots that differ from benchmarks/results.json: {stale}; {AGAIN}"


def test_every_table_is_in_a_markdown_file() -> None:
    found = tables.blocks()
    missing = sorted(set(tables.TABLES) - set(found))
    assert not missing, f"tables no Markdown file holds (a marker pair was lost?): {missing}"
    # The performance section's own tables are in README.md or a page of docs/.
    shown = {
        name
        for name, paths in found.items()
        if any(p == ROOT / "README.md" or p.is_relative_to(ROOT / "docs") for p in paths)
    }
    assert {"context-hash", "edit-preview", "upload-summary", "engine", "customers"} <= shown


def test_the_readme_shows_the_plots() -> None:
    texts = [p.read_text() for p in tables.markdown_files()]
    for name in plots.PLOTS:
        assert any(f"docs/{name}" in t for t in texts), f"no Markdown file shows docs/{name}"


def test_each_figure_names_its_run_and_the_run_says_how_it_was_made(data: dict[str, Any]) -> None:
    assert data["figures"], "benchmarks/results.json holds no figure"
    for key, figure in data["figures"].items():
        run = data["runs"][figure["run"]]
        assert key.startswith(f"{figure['run']}."), key
        assert {"value", "unit", "label"} <= set(figure), key
        reference = figure.get("reference")
        if reference is not None:
            ref = data["figures"][reference["key"]]
            assert ref["run"] == figure["run"], f"{key}: its reference is of another run"
            assert ref["value"] == reference["value"], key
        assert run["mode"] in {"full", "quick", "custom"}
        assert {"date", "command", "machine", "load", "checks"} <= set(run)
        assert run["machine"]["cores"] and run["machine"]["python"]
        assert len(run["load"]["start"]) == len(run["load"]["end"]) == 3


def test_a_run_replaces_its_own_figures_and_keeps_the_others() -> None:
    figure = results.Figure
    data = results.merge({}, "a", {"mode": "full"}, [figure("a.x", 1.0, "s", "x")])
    data = results.merge(data, "b", {"mode": "full"}, [figure("b.y", 2.0, "s", "y")])
    data = results.merge(
        data,
        "a",
        {"mode": "quick"},
        [figure("a.z", 3.0, "s", "z"), figure("a.w", 4.0, "s", "w", reference="a.z")],
    )
    assert set(data["figures"]) == {"b.y", "a.z", "a.w"}
    assert data["runs"] == {"a": {"mode": "quick"}, "b": {"mode": "full"}}
    assert data["figures"]["a.w"]["reference"] == {"key": "a.z", "value": 3.0, "unit": "s"}
    with pytest.raises(ValueError, match="not of this run"):
        results.merge(data, "c", {}, [figure("c.v", 1.0, "s", "v", reference="b.y")])


def test_a_marked_block_is_found_in_whichever_file_holds_it(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    # The performance section moved from README.md to docs/performance.md.
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# x\n\nSee docs/performance.md.\n")
    moved = tmp_path / "docs" / "performance.md"
    moved.write_text("## Performance\n\n<!-- bench:engine -->\nold\n<!-- /bench:engine -->\n")
    assert tables.stale(data, tmp_path) == ["docs/performance.md: engine"]
    assert tables.update(data, tmp_path) == [moved]
    assert tables.stale(data, tmp_path) == []
    assert tables.render("engine", data) in moved.read_text()
    assert tables.blocks(tmp_path) == {"engine": [moved]}


def test_a_broken_marker_is_named(tmp_path: Path, data: dict[str, Any]) -> None:
    (tmp_path / "README.md").write_text("<!-- bench:engine -->\nno end\n<!-- bench:nope -->\n")
    stale = tables.stale(data, tmp_path)
    assert "README.md: the markers of 'engine' do not pair" in stale
    assert "README.md: no table named 'nope'" in stale
    with pytest.raises(SystemExit):
        tables.update(data, tmp_path)


def test_tables_render_without_figures() -> None:
    empty = {"format": results.FORMAT, "figures": {}, "runs": {}}
    for name in tables.TABLES:
        assert tables.render(name, empty)


def test_the_generator_leaves_other_text_alone(tmp_path: Path, data: dict[str, Any]) -> None:
    source = ROOT / "benchmarks" / "README.md"
    copy = tmp_path / "benchmarks" / "README.md"
    copy.parent.mkdir()
    shutil.copy(source, copy)
    assert tables.update(data, tmp_path) == []
    assert copy.read_text() == source.read_text()
