"""Deployment: what `pcc deploy` would deploy from a `pcc-deploy.toml`, as Pulumi resources.

The file is read as pipecatcloud 1.4.0 reads it (`pipecatcloud/_utils/deploy_utils.py`,
`load_deploy_config_file`): a cloud build when it names neither `image` nor `build_id`
(its `[build]` context, Dockerfile and `[build.exclude]` patterns), else that image or build;
the agent with the file's name, region, `[scaling]`, profile or `[resources]`, `[krisp_viva]`,
session limit, `websocket_auth` and `architecture`, bound to its `secret_set` and
`image_credentials` by name; or, with `[git]`, an agent Pipecat Cloud builds from GitHub.
Paths are relative to the file's folder (`pcc deploy` takes them relative to where it runs, which is
that folder).

The file is checked against SCHEMA, pcc 1.4.0's keys with their types and limits, before
anything is declared: a mistake stops the program (so `pulumi preview`) with one line naming
the key, and its line in the file where a scan of the file finds it.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from os import PathLike
from pathlib import Path
from typing import Any

import pulumi

from pcc_provider.agent import ARCHITECTURES, QUANTITY, WEBSOCKET_AUTH, Agent, git_problem
from pcc_provider.agent import DESCRIPTION as AGENT
from pcc_provider.build import Build
from pcc_provider.errors import PipecatError


class DeployFileError(PipecatError):
    """A pcc-deploy.toml this component cannot deploy; str() is for the user."""


@dataclass(frozen=True)
class Kind:
    """A TOML type a key takes: its name in messages and the test of a parsed value."""

    name: str
    test: Callable[[Any], bool]


STRING = Kind("a string", lambda v: isinstance(v, str))
# TOML integers only: a float (1.5, or 2.0) is not one, nor is true.
INTEGER = Kind("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
STRINGS = Kind(
    "an array of strings", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)
)
TABLE = Kind("a table", lambda v: isinstance(v, dict))
ANYTHING = Kind("anything", lambda v: True)

# A limit on a value of the right kind: None when the value is within it, else the reason.
Limit = Callable[[Any], str | None]


def at_least(low: int) -> Limit:
    return lambda v: None if v >= low else f"must be {low} or more"


def between(low: int, high: int) -> Limit:
    return lambda v: None if low <= v <= high else f"must be {low} to {high}"


def one_of(*choices: str) -> Limit:
    listed = " or ".join(json.dumps(c) for c in choices)
    return lambda v: None if v in choices else f"must be {listed}"


def tagged(image: str) -> str | None:
    return None if ":" in image else "must include a tag (my-image:latest)"


def quantity(value: str) -> str | None:
    """A Kubernetes quantity, as pcc 1.4.0 checks [resources] (K8S_QUANTITY_PATTERN)."""
    if QUANTITY.fullmatch(value):
        return None
    return 'must be a Kubernetes quantity (e.g. "500m", "2", "4Gi")'


def repository(value: str) -> str | None:
    """pcc 1.4.0's rule for [git] repo (GitSourceConfig, "the same rules the API applies")."""
    fine = git_problem({"repoFullName": value, "branch": "main"}) is None
    return None if fine else "must be of the form owner/repo"


def branch(value: str) -> str | None:
    fine = git_problem({"repoFullName": "owner/repo", "branch": value}) is None
    return None if fine else "must be a branch name (no empty or dot-only part)"


@dataclass(frozen=True)
class Key:
    """One key of pcc-deploy.toml as pcc 1.4.0 reads it: where it is (its table path), its
    kind and limit, the `Agent` keyword it sets (None: it sets none, or not directly), and,
    for a key pcc reads that this provider cannot deploy, why it is refused."""

    path: tuple[str, ...]
    kind: Kind
    keyword: str | None = None
    limit: Limit | None = None
    refused: str | None = None

    @property
    def name(self) -> str:
        return display(self.path)


SCHEMA: tuple[Key, ...] = (
    Key(("agent_name",), STRING, "service_name"),
    Key(("image",), STRING, "image", limit=tagged),
    Key(("build_id",), STRING, "build_id"),
    Key(("image_credentials",), STRING, "image_pull_secret_set"),
    Key(("secret_set",), STRING, "secret_set"),
    Key(("region",), STRING, "region"),
    Key(("agent_profile",), STRING, "agent_profile"),
    Key(("max_session_duration",), INTEGER, "max_session_duration", limit=between(60, 14400)),
    Key(("scaling",), TABLE),
    Key(("scaling", "min_agents"), INTEGER, "min_agents", limit=at_least(0)),
    Key(("scaling", "max_agents"), INTEGER, "max_agents", limit=at_least(1)),
    Key(("krisp_viva",), TABLE),
    Key(("krisp_viva", "audio_filter"), STRING, "krisp_viva_audio_filter", one_of("tel", "pro")),
    Key(("build",), TABLE),
    Key(("build", "context_dir"), STRING),
    Key(("build", "dockerfile"), STRING),
    Key(("build", "exclude"), TABLE),
    Key(("build", "exclude", "patterns"), STRINGS),
    # Read by `pcc docker build-push`, not by `pcc deploy`: checked, then ignored.
    Key(("docker",), TABLE),
    Key(("docker", "registry"), STRING),
    Key(("docker", "registry_username"), STRING),
    Key(("docker", "registry_url"), STRING),
    Key(("docker", "auto_latest"), BOOLEAN),
    Key(("websocket_auth",), STRING, "websocket_auth", limit=one_of(*WEBSOCKET_AUTH)),
    Key(("architecture",), STRING, "architecture", limit=one_of(*ARCHITECTURES)),
    Key(("resources",), TABLE, "resources"),
    Key(("resources", "cpu"), STRING, limit=quantity),
    Key(("resources", "memory"), STRING, limit=quantity),
    Key(("git",), TABLE, "git"),
    Key(("git", "repo"), STRING, limit=repository),
    Key(("git", "branch"), STRING, limit=branch),
    Key(("git", "dockerfile_path"), STRING),
    Key(("git", "subdirectory"), STRING),
    # pcc 1.4.0 refuses it too, with this advice.
    Key(
        ("enable_krisp",),
        ANYTHING,
        refused="is no longer read (pcc 1.4 refuses it too): use [krisp_viva] audio_filter",
    ),
)
KEYS = {key.path: key for key in SCHEMA}


def display(path: tuple[str, ...]) -> str:
    """A key as the file spells it: `agent_name`, `[scaling] min_agents`, `[build.exclude]
    patterns`."""
    *table, last = (part if len(part) <= 40 else part[:37] + "..." for part in path)
    return f"[{'.'.join(table)}] {last}" if table else last


def shown(value: Any) -> str:
    """A parsed TOML value as the file would spell it, short: arrays and tables by kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:36] + '..."'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return repr(value)


class Problem(Exception):
    """A mistake in the file: what to say, and the key it is at (for its line)."""

    def __init__(self, message: str, at: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.at = at


def suggestion(path: tuple[str, ...]) -> str:
    """' (did you mean ...?)' for an unknown key: the same name elsewhere in the file, or a
    close spelling among the keys of its table; else ''."""
    *table, last = path
    elsewhere = [key.path for key in SCHEMA if key.path[-1] == last and key.path != path]
    if elsewhere:
        return f" (did you mean {display(elsewhere[0])}?)"
    siblings = [key.path[-1] for key in SCHEMA if list(key.path[:-1]) == table]
    close = difflib.get_close_matches(last, siblings, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def problems_in(table: Mapping[str, Any], within: tuple[str, ...] = ()) -> Iterator[Problem]:
    """Each mistake in `table` (the file, or a table of it at `within`), in the file's order:
    unknown keys, values of the wrong kind or out of their limit, refused keys."""
    for name, value in table.items():
        path = (*within, name)
        key = KEYS.get(path)
        if key is None:
            yield Problem(f"unknown key {display(path)}{suggestion(path)}", path)
        elif not key.kind.test(value):
            yield Problem(f"{key.name} must be {key.kind.name}, not {shown(value)}", path)
        elif key.refused:
            yield Problem(f"{key.name} {key.refused}", path)
        elif key.limit and (reason := key.limit(value)):
            yield Problem(f"{key.name} {reason}, not {shown(value)}", path)
        elif key.kind is TABLE:
            yield from problems_in(value, path)


def combined_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    """Mistakes of keys together, once each key is right on its own."""
    if "agent_name" not in data:
        yield Problem("agent_name is missing")
    elif not data["agent_name"]:
        yield Problem("agent_name must not be empty", ("agent_name",))
    if "image" in data and "build_id" in data:
        yield Problem("give image or build_id, not both", ("build_id",))
    git = data.get("git", {})
    if git and set(git) & {"repo", "branch"} != {"repo", "branch"}:
        missing = "branch" if "repo" in git else "repo"
        yield Problem(f"[git] needs both repo and branch: {missing} is missing", ("git",))
    for source in ("image", "build_id"):
        if git and source in data:
            # pcc 1.4.0: "Cannot specify a GitHub source together with 'image' or 'build_id'".
            yield Problem(f"give [git] or {source}, not both", ("git",))
    resources = data.get("resources", {})
    if git and resources:
        # pcc 1.4.0: "Explicit resources are not yet supported for GitHub-sourced agents".
        yield Problem("[resources] cannot size an agent built from [git] yet", ("resources",))
    if resources and set(resources) != {"cpu", "memory"}:
        missing = "memory" if "cpu" in resources else "cpu"
        yield Problem(
            f"[resources] needs both cpu and memory: {missing} is missing", ("resources",)
        )
    if resources and "agent_profile" in data:
        # pcc 1.4.0: "Cannot specify both 'agent_profile' and 'resources'".
        yield Problem("give agent_profile or [resources], not both", ("resources",))
    scaling = data.get("scaling", {})
    low, high = scaling.get("min_agents", 0), scaling.get("max_agents")
    if high is not None and high < low:
        yield Problem(
            f"[scaling] max_agents must be at least min_agents ({low}), not {high}",
            ("scaling", "max_agents"),
        )


# A TOML key, bare or quoted, and a dotted one; a table header; an assignment.
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(
        json.loads(p) if p.startswith('"') else p.strip("'") for p in re.findall(_PART, dotted)
    )


def line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The line where the (valid TOML) `text` sets the key at `path`, else its table or the
    nearest enclosing key (an inline table's). tomllib gives no positions, so this scans the
    lines for table headers and `key =`, skipping the inside of multi-line strings and
    arrays: right for files as people write them, not a TOML parser."""
    table: tuple[str, ...] = ()
    found: dict[tuple[str, ...], int] = {}
    depth = 0  # brackets and braces still open: a value going on over lines
    quotes: str | None = None  # the multi-line string's delimiter while inside one
    for number, line in enumerate(text.splitlines(), 1):
        if quotes is not None:
            if line.count(quotes) % 2:
                quotes = None
            continue
        if depth == 0 and (header := _HEADER.match(line)):
            table = _parts(header.group(1))
            found.setdefault(table, number)
            continue
        if depth == 0 and (assign := _ASSIGN.match(line)):
            key = (*table, *_parts(assign.group(1)))
            for end in range(len(table) + 1, len(key) + 1):  # a.b = 1 makes table a too
                found.setdefault(key[:end], number)
            line = line[assign.end() :]
        quotes = next((q for q in ('"""', "'''") if line.count(q) % 2), None)
        if quotes is None:
            bare = _STRING.sub("", line).split("#", 1)[0]
            depth += bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")
            depth = max(depth, 0)
    for end in range(len(path), 0, -1):
        if path[:end] in found:
            return found[path[:end]]
    return None


def parse(path: Path) -> tuple[str, dict[str, Any]]:
    """(the file's text, its TOML), or DeployFileError in one line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DeployFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DeployFileError(f"{path}:{line}: not UTF-8 text (TOML is UTF-8)") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeployFileError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise DeployFileError(f"{path} is not valid TOML: nested too deeply to read") from None
    except Exception as exc:  # the parser's own failure: one line, never a traceback
        raise DeployFileError(f"{path} could not be read as TOML: {exc!r}"[:300]) from None


def read_deploy_file(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the Agent's keyword arguments, the Build's or None) that `pcc deploy` would deploy
    from the file at `path`; DeployFileError, one line, at the file's first mistake."""
    text, data = parse(path)
    for problem in chain(problems_in(data), combined_problems(data)):
        line = line_of(text, problem.at) if problem.at else None
        raise DeployFileError(f"{path}{f':{line}' if line else ''}: {problem}")
    scaling = data.get("scaling", {})
    krisp = data.get("krisp_viva", {})
    agent: dict[str, Any] = {
        "service_name": data["agent_name"],
        "region": data.get("region"),
        "secret_set": data.get("secret_set"),
        "image_pull_secret_set": data.get("image_credentials"),
        "agent_profile": data.get("agent_profile"),
        "max_session_duration": data.get("max_session_duration"),
        # pcc deploy always sends min_agents (0 when the file has none): so does this.
        "min_agents": scaling.get("min_agents", 0),
        "max_agents": scaling.get("max_agents"),
        "krisp_viva_audio_filter": krisp.get("audio_filter"),
        "websocket_auth": data.get("websocket_auth"),
        "architecture": data.get("architecture"),
        "resources": data.get("resources") or None,
    }
    if data.get("git"):
        git = data["git"]
        named = (
            ("repoFullName", "repo"),
            ("branch", "branch"),
            ("dockerfilePath", "dockerfile_path"),
            ("subdirectory", "subdirectory"),
        )
        source = {field: git[key] for field, key in named if git.get(key)}
        # Nothing is pulled for a build from GitHub: pcc drops the pull secret too.
        return {**agent, "git": source, "image_pull_secret_set": None}, None
    if data.get("image"):
        return {**agent, "image": data["image"]}, None
    if data.get("build_id"):
        return {**agent, "build_id": data["build_id"]}, None
    build = data.get("build", {})
    return agent, {
        "context": str(path.parent / build.get("context_dir", ".")),
        "dockerfile": build.get("dockerfile", "Dockerfile"),
        "exclude": list(build.get("exclude", {}).get("patterns", [])),
        "region": data.get("region"),
    }


# The keywords a Deployment passes on to its Agent, and the file's keys that set them.
KEYWORDS = tuple(f.python for f in AGENT.inputs)
BY_KEYWORD = {key.keyword: key for key in SCHEMA if key.keyword}
PLAIN = (str, int, float, bool, list, dict, datetime.date, datetime.time)


def override_problem(overrides: Mapping[str, Any]) -> str | None:
    """What is wrong with a Deployment's keyword arguments, named as the program names them:
    a keyword the Agent does not take, or a plain value of the wrong kind for a setting the
    file could set (outputs and resources are the Agent's to judge)."""
    for keyword, value in overrides.items():
        if keyword not in KEYWORDS:
            near = [key.keyword for key in SCHEMA if key.path[-1] == keyword and key.keyword]
            near = near or difflib.get_close_matches(keyword, KEYWORDS, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            return f"unknown keyword {keyword}{hint}"
        key = BY_KEYWORD.get(keyword)
        if key and isinstance(value, PLAIN) and not key.kind.test(value):
            return f"{keyword} must be {key.kind.name}, not {value!r}"
    return None


class Deployment(pulumi.ComponentResource):
    """What `pcc deploy` would deploy from `config_file`; keyword arguments override the
    file's settings (any Agent argument: `adopt_existing=True`, `deploy_timeout`, ...).

    Outputs: `agent`, `build` (None unless the file asks for a cloud build), `image_uri`,
    `service_name`.
    """

    agent: Agent
    build: Build | None
    image_uri: pulumi.Output[str | None]
    service_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        config_file: str | PathLike[str] = "pcc-deploy.toml",
        opts: pulumi.ResourceOptions | None = None,
        **overrides: Any,
    ) -> None:
        # Everything is checked before anything is declared: a mistake in the file or in a
        # keyword stops the program (and so `pulumi preview`) with one line, nothing created.
        try:
            if not isinstance(config_file, str | PathLike):
                raise DeployFileError(f"config_file must be a path, not {config_file!r}")
            agent_args, build_args = read_deploy_file(Path(config_file))
            problem = override_problem(overrides)
            if problem:
                raise DeployFileError(problem)
        except DeployFileError as exc:
            raise pulumi.RunError(f"Deployment {name!r}: {exc}") from None
        super().__init__("pipecat:index:Deployment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.build = None
        if build_args is not None:
            self.build = Build(f"{name}-build", **build_args, opts=child)
            agent_args["build_id"] = self.build.build_id
        settings = {**agent_args, **overrides}
        self.agent = Agent(f"{name}-agent", **settings, opts=child)
        self.image_uri = (
            self.build.image_uri
            if self.build is not None
            else self.agent.image  # an image given, or the one a build from GitHub made
        )
        self.service_name = self.agent.service_name
        self.register_outputs(
            {
                "agent": self.agent,
                "build": self.build,
                "image_uri": self.image_uri,
                "service_name": self.service_name,
            }
        )
