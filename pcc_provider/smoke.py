"""An Agent's smoke check: after a new deployment is ready, one session started the way a
client starts one, followed until its bot has run `runSeconds` without an error (or ended
cleanly), then stopped, so that it costs only what it ran.

    bot = Agent("bot", service_name="bot", build_id=image.build_id,
                smoke=SmokeCheck(run_seconds=20, body={"caller": "smoke"}))

"Ready" is the container and its health check; the first caller is what proves the bot
(pipecat-ai/pipecat#2509: a bot that crashes on its first frame passes both). What the agent
does with a failed check (deploy the previous one back, or delete the agent it just created)
is agent.py's; this module starts, follows and judges the session, over the API only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pulumi

from pcc_provider import api, cancel
from pcc_provider.description import Door, Field, flag, positive_seconds
from pcc_provider.errors import PipecatError, Transient

DEFAULT_RUN_SECONDS = 20
DEFAULT_START_TIMEOUT = 60
# How a session that ended by itself ended, when that was no failure (the sessions API's
# derived endState; completionStatus where an older API gives no endState).
CLEAN_END_STATES = ("completed",)
CLEAN_COMPLETIONS = ("HTTP_COMPLETED", "WS_CONNECTION_CLOSED", "200")
LOG_LINES = 12  # of a failed session's logs, in the failure


def _body(value: Any, door: Any) -> str | None:
    if isinstance(value, Mapping):
        return None
    return f"{door['body']} must be an object (the data the bot is started with), not {value!r}"


class SmokeCheck(TypedDict, total=False):
    """A session started after each new deployment of the agent, as a client starts one: the
    deployment stands once its bot has run run_seconds without an error (or ended cleanly);
    otherwise the agent is deployed back to what it ran before (or, on its create, deleted)
    and the update fails."""

    run_seconds: Annotated[
        float,
        Field(
            "seconds the bot must run without an error (default 20): the session's cost.",
            default=DEFAULT_RUN_SECONDS,
            check=positive_seconds("runSeconds"),
        ),
    ]
    start_timeout: Annotated[
        float,
        Field(
            "seconds for the bot to start (`botStartSeconds`), cold start included (default 60).",
            default=DEFAULT_START_TIMEOUT,
            check=positive_seconds("startTimeout"),
        ),
    ]
    body: Annotated[
        Mapping[str, Any] | None,
        Field("the data the bot is started with (the start request's `body`).", check=_body),
    ]
    use_daily: Annotated[
        bool,
        Field(
            "start it in a Daily room (`createDailyRoom`, as `pcc agent start --use-daily`).",
            default=False,
            check=flag("useDaily"),
        ),
    ]
    public_api_key: Annotated[
        pulumi.Input[str] | None,
        Field(
            "a public API key (an ApiKey's key, say); default: config `pipecat:publicApiKey`.",
            secret=True,
        ),
    ]


class SmokeFailed(PipecatError):
    """The session failed: str() is what failed, in one line; `session` its id (None if it
    never started); `logs` its last lines."""

    def __init__(self, message: str, session: str | None = None, logs: list[str] | None = None):
        super().__init__(message)
        self.session = session
        self.logs = logs or []


@dataclass
class Seen:
    """The session as the last look saw it, and when (monotonic) its bot was first seen up."""

    found: dict[str, Any]
    started_seen: float | None = None

    @property
    def ended(self) -> bool:
        return bool(self.found.get("endedAt")) or self.found.get("endState") not in (
            None,
            "active",
        )

    @property
    def started(self) -> bool:
        return self.found.get("botStartSeconds") is not None

    def clean(self) -> bool:
        state = self.found.get("endState")
        if state is not None:
            return state in CLEAN_END_STATES
        return str(self.found.get("completionStatus")) in CLEAN_COMPLETIONS


def short(session: str) -> str:
    return session[:8] + "…" if len(session) > 8 else session


def run(
    client: api.Client,
    name: str,
    check: Mapping[str, Any],
    key: str,
    status: Callable[[str], None],
    door: Door,
    poll_interval: float = 1.0,
) -> str:
    """Start the session, follow it, stop it. Its verdict in a line ("smoke session 3f2a…
    passed: bot started in 2 s, ran 20 s"); SmokeFailed otherwise. Any session it started is
    stopped, also when a Ctrl-C ends the wait."""
    run_for = float(check.get("runSeconds") or DEFAULT_RUN_SECONDS)
    start_within = float(check.get("startTimeout") or DEFAULT_START_TIMEOUT)
    body: dict[str, Any] = {"createDailyRoom": bool(check.get("useDaily"))}
    if check.get("body") is not None:
        body["body"] = dict(check["body"])
    status(f"smoke session of agent {name}: starting")
    try:
        started = client.start_session(name, body, key)
    except api.AuthError:
        raise SmokeFailed(
            f"the session could not start: the public API key was refused: give "
            f"{door['smoke']}.{door['publicApiKey']} (or config `pipecat:publicApiKey`) a "
            "public key of this organization (`pcc organizations keys create`)"
        ) from None
    except api.ApiError as exc:
        raise SmokeFailed(f"the session could not start: {exc}") from None
    session = started.get("sessionId")
    if not isinstance(session, str) or not session:
        raise SmokeFailed("the session could not start: the start answered no sessionId")
    try:
        waited = f"{door['smoke']}.{door['startTimeout']}"
        return _follow(
            client, name, session, run_for, (start_within, waited), status, poll_interval
        )
    except SmokeFailed as failed:
        failed.session = session
        failed.logs = _logs(client, name, session)
        raise
    finally:
        _stop(client, name, session)


def _follow(
    client: api.Client,
    name: str,
    session: str,
    run_for: float,
    start: tuple[float, str],
    status: Callable[[str], None],
    poll_interval: float,
) -> str:
    start_within, waited = start
    began = time.monotonic()
    shown = f"smoke session {short(session)}"
    seen = Seen({})
    misses = 0
    while True:
        cancel.sleep(poll_interval, "waiting for the smoke session")
        try:
            seen.found = client.get_session(name, session)
            misses = 0
        except Transient:
            misses += 1  # a look lost is looked again; many in a row fail the check
            if misses > 5:
                raise
            continue
        except api.NotFound:
            raise SmokeFailed(f"session {session} is gone (the agent was deleted?)") from None
        now = time.monotonic()
        if seen.started and seen.started_seen is None:
            seen.started_seen = now
        took = seen.found.get("botStartSeconds")
        if seen.ended:
            state = seen.found.get("endState") or seen.found.get("completionStatus") or "ended"
            if seen.started and seen.clean():
                return f"{shown} passed: bot started in {took} s and ended cleanly ({state})"
            when = "before its bot started" if not seen.started else "while it ran"
            raise SmokeFailed(f"the session ended {when}: {state}")
        if not seen.started:
            if now - began > start_within:
                raise SmokeFailed(f"the bot did not start within {start_within:g} s ({waited})")
            status(f"{shown}: waiting for the bot to start ({now - began:.0f} s)")
            continue
        assert seen.started_seen is not None
        ran = now - seen.started_seen
        if ran >= run_for:
            return f"{shown} passed: bot started in {took} s, ran {run_for:g} s"
        status(f"{shown}: bot started in {took} s, running {ran:.0f}/{run_for:g} s")


def _logs(client: api.Client, name: str, session: str) -> list[str]:
    try:
        return client.session_logs(name, session, LOG_LINES)
    except api.ApiError:
        return []


def _stop(client: api.Client, name: str, session: str) -> None:
    """Stop it, so it costs only what it ran; one that ended already needs nothing."""
    with contextlib.suppress(api.ApiError):  # ended, or gone with the agent: nothing runs on
        client.stop_session(name, session)
