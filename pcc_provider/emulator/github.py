"""Agents created from a GitHub source (`git` in the organization route's create, pcc 1.4.0's
PCC-933): the repository, branch, Dockerfile path and subdirectory the first deploy builds.

There is no GitHub here: the emulator builds a placeholder context, a Dockerfile of the base
image named for the repository, at a commit named from the repository and branch (the same
source, the same commit). The build is a build like any other (`GET /builds/{id}` shows it,
with its `commitSha`), and the agent's one deployment runs its image once it succeeds. What
pcc reads of such an agent (cli/commands/agent.py `_git_status_rows`, deploy_utils.py
`follow_git_deploy`): `git` (the binding), `latestDeploy` (the attempt: pending, building,
deploying, then succeeded or failed) and `deployedCommit` (what runs).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NoReturn

from pcc_provider.emulator.entities import Agent, Build
from pcc_provider.emulator.errors import BadRequest

# pcc 1.4.0's github_utils, which "mirrors the API's isValidRepoFullName".
_REPO_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
FIELDS = ("repoFullName", "branch", "dockerfilePath", "subdirectory")


def _valid_repo(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(
        _REPO_SEGMENT.match(p) and not re.fullmatch(r"\.+", p) for p in parts
    )


def _valid_branch(branch: str) -> bool:
    return bool(branch) and all(p and not re.fullmatch(r"\.+", p) for p in branch.split("/"))


def source(body: dict[str, Any]) -> dict[str, Any] | None:
    """The `git` of a create body, checked (400 as the API answers), or None."""
    raw = body.get("git")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(raw) <= set(FIELDS):
        bad(f"'git' must be an object of {', '.join(FIELDS)}")
    if any(not isinstance(v, str) for v in raw.values()):
        bad("'git' fields must be strings")
    repo, branch = raw.get("repoFullName"), raw.get("branch")
    if repo is None or branch is None:
        bad("A GitHub source requires both 'repoFullName' and 'branch'")
    if not _valid_repo(repo):
        bad(f"Invalid repo '{repo}'. Expected the form 'owner/repo'.")
    if not _valid_branch(branch):
        bad(f"Invalid branch '{branch}'")
    if body.get("image") is not None or body.get("buildId") is not None:
        bad("Cannot deploy from a GitHub repository and an image or build at the same time")
    if body.get("resources") is not None:
        # pcc 1.4.0: "explicit resources are not plumbed through that path yet, so the API
        # refuses the pair".
        bad("Explicit resources are not yet supported for GitHub-sourced agents")
    return {
        "repoFullName": repo,
        "branch": branch,
        "dockerfilePath": raw.get("dockerfilePath") or "Dockerfile",
        **({"subdirectory": raw["subdirectory"]} if raw.get("subdirectory") else {}),
        "autoDeploy": True,
    }


def bad(message: str) -> NoReturn:
    raise BadRequest(message)


def commit_of(git: dict[str, Any]) -> str:
    """The commit the branch is at: named from the repository and branch, as no GitHub tells."""
    return hashlib.sha1(f"{git['repoFullName']}@{git['branch']}".encode()).hexdigest()


def dockerfile_of(git: dict[str, Any]) -> str:
    """The placeholder context's Dockerfile."""
    where = git.get("subdirectory") or "."
    return (
        "FROM dailyco/pipecat-base:latest\n"
        f"# {git['repoFullName']}@{git['branch']} ({where})\n"
        "COPY ./bot.py bot.py\n"
    )


def attempt(agent: Agent, build: Build | None, now: float) -> dict[str, Any]:
    """The agent's `latestDeploy`: its build's status, then the deployment's."""
    git = agent.git or {}
    found: dict[str, Any] = {"commitSha": build.commit_sha if build else None}
    found["ref"] = f"refs/heads/{git.get('branch')}"
    status = build.status(now) if build else "failed"
    if status in ("pending", "building"):
        found["status"] = status
    elif status != "success":
        found.update(status="failed", reason=(build.error_message if build else None))
    elif agent.current.healthy_at(now):
        found["status"] = "succeeded"
    else:
        found["status"] = "deploying"
    return found


def rendered(agent: Agent, build: Build | None, now: float) -> dict[str, Any]:
    """What the organization route adds to such an agent: `git`, `latestDeploy` and, once it
    runs, `deployedCommit`."""
    latest = attempt(agent, build, now)
    extra: dict[str, Any] = {"git": dict(agent.git or {}), "latestDeploy": latest}
    if latest["status"] == "succeeded":
        extra["deployedCommit"] = {
            "sha": latest["commitSha"],
            "repoFullName": (agent.git or {}).get("repoFullName"),
            "ref": latest["ref"],
        }
    return extra
