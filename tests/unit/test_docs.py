"""The README is a front door and docs/ holds the guides: the README's length, every relative
link and anchor of both, the code blocks that claim to be programs, the guides' reading order,
and the configuration keys on the installation page."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from markdown_docs import (
    DOCS,
    PROGRAM_LANGUAGES,
    README,
    REPO,
    anchors,
    blocks,
    guides,
    links,
    pages,
    programs,
    slug,
    written_pages,
)

from pcc_provider.config import SETTINGS
from pcc_provider.native.schema import REPOSITORY

README_MOST_LINES = 300


def test_the_readme_is_at_most_300_lines() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MOST_LINES, (
        f"README.md has {lines} lines: it is the front door (what it is, install, a first "
        "program per door, the emulator, links); move the rest into a guide in docs/"
    )


def test_slugs_are_githubs() -> None:
    assert slug("When `pulumi` itself is killed") == "when-pulumi-itself-is-killed"
    assert slug("Build contexts, `contextHash` and `contentDigest`") == (
        "build-contexts-contexthash-and-contentdigest"
    )
    assert slug("When Pipecat Cloud's answers go wrong") == "when-pipecat-clouds-answers-go-wrong"
    assert slug("Function `getAgentProfiles`") == "function-getagentprofiles"
    assert slug("Safe deploys: a smoke session, no live call cut") == (
        "safe-deploys-a-smoke-session-no-live-call-cut"
    )


def test_the_parser_finds_links_anchors_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "---\ntitle: x\n---\n# Top\n\nSee [the\nother](other.md#a-b) and `[code](nowhere.md)`,"
        " [web](https://example.com), ![pic](p.png).\n\n## A `b`\n\n## A b\n\n"
        "```sh\n# not a heading [x](nowhere.md)\n```\n\n<!-- excerpt -->\n  ```python\n  x = 1\n"
        "  ```\n\n```yaml\nname: y\n```\n"
    )
    assert links(page) == ["other.md#a-b", "p.png"]
    assert anchors(page) == {"top", "a-b", "a-b-1"}
    found = blocks(page)
    assert [(b.language, b.marker, b.text) for b in found] == [
        ("sh", None, "# not a heading [x](nowhere.md)\n"),
        ("python", "excerpt", "x = 1\n"),
        ("yaml", None, "name: y\n"),
    ]


def link_problems(page: Path, root: Path = REPO) -> list[str]:
    """What is wrong with each relative link of `page` (none leaves `root`)."""
    problems = []
    for link in links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root)}: {link}"
        if target != root and root not in target.parents:
            problems.append(f"{where}: outside the repository")
        elif not target.exists():
            problems.append(f"{where}: no such file")
        elif anchor and target.suffix != ".md":
            problems.append(f"{where}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(target):
            problems.append(f"{where}: no heading of {target.relative_to(root)} has that anchor")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert link_problems(page) == []


def test_the_link_check_sees_each_kind_of_broken_link(tmp_path: Path) -> None:
    root = tmp_path.resolve() / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "other.md").write_text("# Other\n\n## A `b` c\n")
    (root / "docs" / "dashboard.png").write_bytes(b"")
    page = root / "docs" / "page.md"
    page.write_text(
        "# Here\n\n[fine](#here) [fine](other.md#a-b-c) [fine](other.md) ![fine](dashboard.png)"
        " [web](https://example.com/x#y)\n[a](nothing.md) [b](#nowhere)"
        " [c](other.md#no-such-heading) [d](dashboard.png#x) [e](../../outside.md)\n"
    )
    assert [p.split(": ", 1)[1] for p in link_problems(page, root)] == [
        "nothing.md: no such file",
        "#nowhere: no heading of docs/page.md has that anchor",
        "other.md#no-such-heading: no heading of docs/other.md has that anchor",
        "dashboard.png#x: an anchor into a file that is not Markdown",
        "../../outside.md: outside the repository",
    ]


def is_whole_program(language: str, text: str) -> bool:
    if language == "python":
        tree = ast.parse(text)
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (
                node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
            )
        }
        return "pcc_provider" in imported
    if language == "yaml":
        return bool(
            re.search(r"^runtime: yaml$", text, re.M) and re.search(r"^resources:$", text, re.M)
        )
    if language == "typescript":
        return '"@pcc-provider/pipecat"' in text
    return language == "go" and text.startswith("package main\n") and "pulumi.Run(" in text


@pytest.mark.parametrize("page", written_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_each_code_block_of_a_program_language_is_a_program_the_tests_run_or_an_excerpt(
    page: Path,
) -> None:
    unmarked = [
        b.where for b in blocks(page) if b.language in PROGRAM_LANGUAGES and b.marker is None
    ]
    assert unmarked == [], (
        "mark each block on the line before its fence: <!-- program --> (a whole program, "
        "which tests/engine/test_docs_programs.py runs) or <!-- excerpt -->"
    )
    partial = [
        b.where
        for b in blocks(page)
        if b.marker == "program" and not is_whole_program(PROGRAM_LANGUAGES[b.language], b.text)
    ]
    assert partial == [], "marked as programs, these are not whole programs: mark them excerpts"


def test_the_programs_the_engine_test_runs_cover_every_door() -> None:
    languages = {PROGRAM_LANGUAGES[b.language] for b in programs()}
    assert languages == {"python", "yaml", "typescript", "go"}
    readme = {PROGRAM_LANGUAGES[b.language] for b in blocks(README) if b.marker == "program"}
    assert {"python", "yaml", "typescript"} <= readme, "the README has a first program per door"


def readme_guides() -> list[str]:
    text = README.read_text()
    section = text.split("\n## Guides\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. \[[^\]]+\]\(docs/([^)#]+)\)", section, re.M)


def test_the_readme_lists_every_guide_in_reading_order_and_each_links_the_next() -> None:
    order = readme_guides()
    assert sorted(order) == sorted(p.name for p in guides())
    assert order[0] == "installation-configuration.md"
    for page, following in zip(order, [*order[1:], None], strict=True):
        text = (DOCS / page).read_text()
        lines = [line for line in text.strip().split("\n") if line.strip()]
        last = lines[-1]
        assert last.startswith("**Next:**"), f"{page} ends with no **Next:** line"
        if following:
            first = re.search(r"\]\(([^)#]+)\)", last)
            assert first and first[1] == following, f"{page}: next should be {following}"


def test_every_configuration_key_is_on_the_installation_page() -> None:
    text = (DOCS / "installation-configuration.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {row.split("|")[1].strip(): row for row in section.split("\n") if row.startswith("| `")}
    for setting in SETTINGS:
        row = rows.get(f"`pipecat:{setting.name}`")
        assert row, f"pipecat:{setting.name} is not in the Configuration table"
        if setting.env:
            assert f"`{setting.env}`" in row, (
                f"{setting.env} is not on pipecat:{setting.name}'s row"
            )
        assert ("| yes |" in row) == setting.secret, f"pipecat:{setting.name}: secret or not"
    assert len(rows) == len(SETTINGS), "a row for a key ProviderConfig does not read"


def test_the_registry_pages_have_front_matter() -> None:
    for name in ("_index.md", "installation-configuration.md"):
        head = (DOCS / name).read_text().split("\n---\n", 1)[0]
        assert head.startswith("---\n"), name
        fields = dict(line.split(": ", 1) for line in head.split("\n")[1:])
        assert {"title", "meta_desc", "layout"} <= fields.keys(), name
        assert fields["layout"] == "package", name
    index = blocks(DOCS / "_index.md")
    assert {PROGRAM_LANGUAGES[b.language] for b in index if b.marker == "program"} == {
        "python",
        "yaml",
        "typescript",
        "go",
    }, "_index.md has an example per language"


def test_the_package_links_the_guides_from_pypi() -> None:
    """The README is the wheel's long description, where its relative links to docs/ do not
    resolve: the project's URLs name the guides and the changelog in the repository."""
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Homepage"] == REPOSITORY
    assert urls["Documentation"] == f"{REPOSITORY}/tree/main/docs"
    assert urls["Changelog"] == f"{REPOSITORY}/blob/main/CHANGELOG.md"
