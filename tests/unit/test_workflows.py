"""The GitHub Actions workflows: what a reviewer checks by eye, checked here. Their syntax,
expressions and shell are actionlint's (`make actionlint`, part of `make lint`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
BUILDS = {"check", "plugin", "python", "npm"}
PUBLISHERS = {"publish-pypi", "publish-npm", "go-tag"}


def load(name: str) -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True)
    return workflow


def needs(job: dict[str, Any]) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


def test_ci_runs_the_projects_own_ci_on_pushes_and_pull_requests() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    (job,) = ci["jobs"].values()
    assert job["timeout-minutes"] == 90
    assert [step["run"] for step in job["steps"] if "run" in step] == ["bash .ci/run"]
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in ci["concurrency"]["group"]


def test_release_builds_the_plugin_for_exactly_the_five_platforms() -> None:
    release = load("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    plugin = release["jobs"]["plugin"]
    platforms = [entry["platform"] for entry in plugin["strategy"]["matrix"]["include"]]
    assert sorted(platforms) == sorted(
        ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64", "windows-amd64"]
    )
    runners = [entry["runner"] for entry in plugin["strategy"]["matrix"]["include"]]
    assert len(set(runners)) == 5
    assert plugin["defaults"]["run"]["shell"] == "bash"  # the same steps on Windows


def test_nothing_is_published_unless_every_build_passed() -> None:
    jobs = load("release.yml")["jobs"]
    assert set(jobs) == BUILDS | PUBLISHERS | {"github-release"}
    for name in PUBLISHERS:
        assert needs(jobs[name]) >= BUILDS, name
        assert "if" not in jobs[name], name  # no always() overriding a failed build
    assert needs(jobs["github-release"]) == BUILDS | PUBLISHERS


def test_release_jobs_have_least_privilege() -> None:
    release = load("release.yml")
    assert release["permissions"] == {}
    writes = {
        name: {scope for scope, access in job["permissions"].items() if access == "write"}
        for name, job in release["jobs"].items()
    }
    assert writes == {
        "check": set(),
        "plugin": set(),
        "python": set(),
        "npm": set(),
        "publish-pypi": {"id-token"},
        "publish-npm": {"id-token"},
        "go-tag": {"contents"},
        "github-release": {"contents"},
    }
    assert release["jobs"]["publish-pypi"]["environment"]["name"] == "pypi"


def test_actions_are_pinned_by_major_version() -> None:
    for name in ("ci.yml", "release.yml"):
        for job in load(name)["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    # pypa's action is published as the branch release/v1, not a v1 tag.
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|release/v\d+)", step["uses"])
