"""The secret set providers' check, diff, create, update, read and delete called directly
against the emulator (no engine): the pure logic behind the acceptance tests."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, EmulatorHandle

from pcc_provider.agent import AgentProvider, problems
from pcc_provider.config import ProviderConfig
from pcc_provider.emulator import Emulator
from pcc_provider.resource import ApiProvider, Timings
from pcc_provider.secrets import (
    ImagePullSecretProvider,
    SecretSetError,
    SecretSetProvider,
    revision_digest,
)

VALUE = "sk-very-secret-value-9f8e"


pytestmark = pytest.mark.emulator(agent_ready_seconds=0.1, secret_ready_seconds=0.2)


def configured(kind: type[ApiProvider], emu: Emulator) -> Any:
    config = ProviderConfig(api_key=API_KEY, api_url=emu.api_url)
    return kind(config, Timings(poll_interval=0.05))


def props(**secrets: str) -> dict[str, Any]:
    return {
        "setName": "bot-secrets",
        "region": "us-west",
        "secrets": secrets,
        "keys": sorted(secrets),
        "readyTimeout": 10,
    }


def test_check_names_the_problem_never_the_value() -> None:
    provider = SecretSetProvider()
    cases = {
        "secrets is empty": props(),
        "secret key 'BAD KEY' is not valid": props(**{"BAD KEY": VALUE}),
        "secret key '" + "K" * 65 + "' is not valid": props(**{"K" * 65: VALUE}),
        "the value of secret K is empty": props(K=""),
    }
    for words, given in cases.items():
        failures = provider.check({}, given).failures
        assert [f.reason for f in failures if words in f.reason], (words, failures)
        assert all(VALUE not in f.reason and f.property == "" for f in failures)
    assert provider.check({}, props(K=VALUE, OTHER_KEY_2="x")).failures == []
    for name in ("ab", "a" * 64, "Upper", "under_score", "-lead", "trail-", "a..b"):
        assert provider.check({}, {**props(K="v"), "setName": name}).failures, name
    for name in ("abc", "bot-secrets", "my.secrets.v2", "a" * 63):
        assert provider.check({}, {**props(K="v"), "setName": name}).failures == [], name
    pull = ImagePullSecretProvider()
    good = {"setName": "ghcr", "region": "us-west", "host": "https://ghcr.io"}
    good |= {"username": "u", "password": VALUE}
    assert pull.check({}, good).failures == []
    for host in ("http://ghcr.io", "ghcr.io", "https://", "ftp://x"):
        reasons = [f.reason for f in pull.check({}, {**good, "host": host}).failures]
        assert reasons and "https://" in reasons[0] and VALUE not in reasons[0]


def test_diff_updates_values_in_place_and_replaces_on_name_or_region() -> None:
    provider = SecretSetProvider()
    old = props(A="1", B="2")
    assert not provider.diff("bot-secrets", old, props(A="1", B="2")).changes
    changed = provider.diff("bot-secrets", old, props(A="1", B="3"))
    assert changed.changes and changed.replaces == []
    assert provider.diff("bot-secrets", old, props(A="1")).changes
    assert provider.diff("bot-secrets", old, props(A="1", B="2", C="3")).changes
    # Keys added or removed outside Pulumi, as a refresh records them, are a change.
    assert provider.diff(
        "bot-secrets", {**old, "keys": ["A", "B", "X"]}, props(A="1", B="2")
    ).changes
    moved = provider.diff("bot-secrets", old, {**props(A="1", B="2"), "region": "us-east"})
    assert moved.replaces == ["region"] and moved.delete_before_replace
    renamed = provider.diff("bot-secrets", old, {**props(A="1", B="2"), "setName": "other"})
    assert renamed.replaces == ["setName"] and not renamed.delete_before_replace
    # Only the timeout: nothing to do on the service.
    assert not provider.diff("bot-secrets", old, {**props(A="1", B="2"), "readyTimeout": 5}).changes


def test_create_update_read_delete(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    created = provider.create(props(A=VALUE, B="2"))
    assert created.id == "bot-secrets"
    assert created.outs["status"] == "ready" and created.outs["keys"] == ["A", "B"]
    stored = emu.store.secret_sets["bot-secrets"]
    assert stored.values == {"A": VALUE, "B": "2"}
    assert stored.status(emu.store.clock.now()) == "ready"

    # A second create of the same name is refused: the set is not ours to take over.
    with pytest.raises(SecretSetError, match="already exists in Pipecat Cloud"):
        provider.create(props(A="x"))
    assert stored.values["A"] == VALUE

    updated = provider.update("bot-secrets", created.outs, props(A="new", C="3"))
    assert updated.outs["keys"] == ["A", "C"] and updated.outs["status"] == "ready"
    assert emu.store.secret_sets["bot-secrets"].values == {"A": "new", "C": "3"}

    # Drift: a key removed outside leaves the state, one added appears.
    emu.store.delete_secret("bot-secrets", "C")
    emu.store.put_secret_set("bot-secrets", None, {"OUTSIDE": "x"}, None)
    read = provider.read("bot-secrets", updated.outs)
    assert read.outs["keys"] == ["A", "OUTSIDE"] and read.outs["secrets"] == {"A": "new"}
    assert provider.diff("bot-secrets", read.outs, props(A="new", C="3")).changes

    provider.delete("bot-secrets", read.outs)
    assert "bot-secrets" not in emu.store.secret_sets
    assert provider.read("bot-secrets", read.outs).id == ""
    provider.delete("bot-secrets", read.outs)  # already gone: fine


def test_a_failed_create_is_undone_and_says_why(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    emu.store.fail_secret_set("bot-secrets", "quota exceeded")
    with pytest.raises(SecretSetError) as raised:
        provider.create(props(A=VALUE))
    message = str(raised.value)
    assert message == (
        "secret set bot-secrets: provisioning failed: quota exceeded; the set was deleted again"
    )
    assert "bot-secrets" not in emu.store.secret_sets

    emu.config.secret_ready_seconds = 30
    with pytest.raises(SecretSetError, match=r"still pending after 0.3s \(ready_timeout\)"):
        provider.create({**props(A=VALUE), "readyTimeout": 0.3})
    assert "bot-secrets" not in emu.store.secret_sets


def test_image_pull_secret_is_sent_as_the_official_cli_encodes_it(emu: Emulator) -> None:
    provider = configured(ImagePullSecretProvider, emu)
    given = {"setName": "ghcr", "region": "us-west", "host": "https://ghcr.io"}
    given |= {"username": "bot", "password": VALUE, "readyTimeout": 10}
    created = provider.create(given)
    assert created.outs["status"] == "ready"
    stored = emu.store.secret_sets["ghcr"]
    assert stored.type == "imagePullSecret" and stored.host == "https://ghcr.io/"
    assert stored.values == {"secretValue": base64.b64encode(f"bot:{VALUE}".encode()).decode()}

    assert not provider.diff("ghcr", created.outs, given).changes
    rotated = {**given, "password": "rotated"}
    assert provider.diff("ghcr", created.outs, rotated).changes
    provider.update("ghcr", created.outs, rotated)
    assert stored.values["secretValue"] == base64.b64encode(b"bot:rotated").decode()
    assert provider.read("ghcr", rotated).outs["status"] == "ready"
    provider.delete("ghcr", rotated)
    assert provider.read("ghcr", rotated).id == ""


def test_agent_redeploys_on_a_new_revision_or_trigger(emu: Emulator) -> None:
    sets = configured(SecretSetProvider, emu)
    sets.create(props(A="1"))
    agents = configured(AgentProvider, emu)
    revision = revision_digest("secret", "bot-secrets", {"A": "1"})
    inputs = {
        "serviceName": "bot",
        "region": "us-west",
        "image": "x:1",
        "secretSet": "bot-secrets",
        "__secretRevision": revision,
        "__setRegions": {"bot-secrets": "us-west"},
        "deployTimeout": 10,
    }
    first = agents.create(inputs).outs
    assert not agents.diff("bot", first, inputs).changes
    # Only the regions of the bound sets: recorded, nothing to roll out.
    assert not agents.diff("bot", first, {**inputs, "__setRegions": {}}).changes
    # A state written before the internal inputs were named `__...`: the same revision.
    earlier = {k: v for k, v in first.items() if not k.startswith("__s")}
    earlier |= {"secretRevision": revision, "setRegions": {"bot-secrets": "us-west"}}
    assert not agents.diff("bot", earlier, inputs).changes
    assert agents.diff("bot", earlier, {**inputs, "__secretRevision": "sha256:other"}).changes
    for change in ({"__secretRevision": "sha256:other"}, {"triggers": {"restart": 1}}):
        news = {**inputs, **change}
        assert agents.diff("bot", first, news).changes
        outs = agents.update("bot", first, news).outs
        assert outs["desiredDeploymentId"] != first["desiredDeploymentId"]
        assert outs["ready"] is True
    # Another region for a set declared in the program is refused before any call.
    found = problems({**inputs, "__setRegions": {"bot-secrets": "eu-central"}})
    assert found == [
        (
            "secretSet",
            "secret_set 'bot-secrets' is in region eu-central, the agent in us-west: "
            "declare the set in the agent's region, or deploy the agent where it is",
        )
    ]


def test_the_emulator_takes_the_secret_ready_time_on_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcc_provider import __main__, emulator

    given: dict[str, Any] = {}
    monkeypatch.setattr(emulator, "serve", lambda **kw: given.update(kw))
    argv = ["emulator", "--state-dir", str(tmp_path), "--api-key", API_KEY]
    assert __main__.main([*argv, "--secret-ready-seconds", "2.5"]) == 0
    assert given["secret_ready_seconds"] == 2.5
    with Emulator(tmp_path / "s", api_key=API_KEY, secret_ready_seconds=2.5) as running:
        assert running.config.secret_ready_seconds == 2.5


def test_the_emulator_keeps_secret_values_private_on_disk(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    provider.create(props(A=VALUE))
    assert emu.store.root.stat().st_mode & 0o777 == 0o700
    holding = [p for p in emu.store.root.rglob("*") if p.is_file() and VALUE in p.read_text()]
    assert holding
    for path in holding:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_the_set_name_check_agrees_with_the_spec() -> None:
    """The provider's rule is its own constant; the emulator reads the spec's (spec.py)."""
    from pcc_provider.emulator.spec import SECRET_SET_NAME_LENGTH, SECRET_SET_NAME_RE
    from pcc_provider.secrets import SET_NAME, set_name_problem

    assert SET_NAME.pattern == SECRET_SET_NAME_RE.pattern
    low, high = SECRET_SET_NAME_LENGTH
    for length in (low, high):
        assert set_name_problem("a" * length) is None, length
    for length in (low - 1, high + 1):
        assert set_name_problem("a" * length), length


def fault(emu: Emulator, route: str, status: int, times: int = 1) -> None:
    EmulatorHandle(emu.url).fault(route, status=status, times=times)


def requests_to(emu: Emulator, route: str) -> int:
    return EmulatorHandle(emu.url).calls(route)


GET_SET = "GET /v1/secrets/{setName}"


def test_a_passing_error_while_provisioning_is_tolerated(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    # api.py retries a GET on 502/503/504; a 500 it does not, and the wait goes on through it.
    # (The create asks whether the name is free from the shared list of sets, not this route.)
    fault(emu, GET_SET, 500, times=2)
    created = provider.create(props(A=VALUE))
    assert created.outs["status"] == "ready"
    assert "bot-secrets" in emu.store.secret_sets
    # An error that persists fails the call, but leaves the set: it may still become ready.
    provider.delete("bot-secrets", created.outs)
    fault(emu, GET_SET, 500, times=50)
    with pytest.raises(SecretSetError, match=r"bot-secrets: .*Fault injected") as raised:
        provider.create(props(A=VALUE))
    assert "deleted again" not in str(raised.value)
    assert "bot-secrets" in emu.store.secret_sets


def test_a_missing_value_is_named_at_check_unknown_passes() -> None:
    from pulumi.runtime.rpc import UNKNOWN

    provider = SecretSetProvider()
    failures = provider.check({}, props(K=None))  # type: ignore[arg-type]
    assert [f.reason for f in failures.failures] == [
        "the value of secret K is missing (is the config set?)"
    ]
    assert provider.check({}, props(K=UNKNOWN)).failures == []


def test_delete_waits_until_the_set_is_gone(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    created = provider.create(props(A=VALUE))
    before = requests_to(emu, GET_SET)
    provider.delete("bot-secrets", created.outs)
    # The service deletes asynchronously: delete returns once GET says the set is gone.
    assert requests_to(emu, GET_SET) > before
    assert "bot-secrets" not in emu.store.secret_sets


def test_a_set_that_vanished_while_provisioning_is_reported_gone(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    emu.config.secret_ready_seconds = 30
    fault(emu, GET_SET, 404, times=2)  # the create's existence check, then the first poll
    with pytest.raises(SecretSetError) as raised:
        provider.create(props(A=VALUE))
    assert str(raised.value).startswith(
        "secret set bot-secrets: it disappeared while being provisioned; "
    )
    assert "bot-secrets" not in emu.store.secret_sets  # deleted again
    emu.config.secret_ready_seconds = 0.2

    # Gone for real: the rollback's delete answers 404.
    fault(emu, GET_SET, 404, times=2)
    fault(emu, "DELETE /v1/secrets/{setName}", 404)
    with pytest.raises(SecretSetError) as raised:
        provider.create(props(A=VALUE))
    assert str(raised.value) == (
        "secret set bot-secrets: it disappeared while being provisioned; the set is gone"
    )


URN = "urn:pulumi:dev::proj::pulumi-python:dynamic:pipecat:SecretSet::bot"


def test_a_set_whose_create_ended_after_the_engine_was_killed_is_recovered(
    emu: Emulator, cache: Path
) -> None:
    # The create ran to its end, but the engine was killed meanwhile and never recorded it
    # (found by the chaos runner). The next `up` creates it again.
    provider = configured(SecretSetProvider, emu)
    inputs = {**props(A=VALUE), "__urn": URN}
    provider.create(inputs)
    again = provider.create(inputs)
    assert again.outs["status"] == "ready"
    assert emu.store.secret_sets["bot-secrets"].values == {"A": VALUE}

    # Recorded this time, then deleted: a stranger's set of the name is refused.
    provider.diff("bot-secrets", again.outs, inputs)
    provider.delete("bot-secrets", again.outs)
    emu.store.put_secret_set("bot-secrets", "us-west", {"A": "theirs"}, None)
    with pytest.raises(SecretSetError, match="this stack did not create it"):
        provider.create(inputs)
    assert emu.store.secret_sets["bot-secrets"].values == {"A": "theirs"}


def test_an_interrupted_up_is_recovered_someone_elses_set_is_not(
    emu: Emulator, cache: Path
) -> None:
    provider = configured(SecretSetProvider, emu)
    # An up interrupted while the set provisioned: the PUT landed, the wait never ended.
    emu.config.secret_ready_seconds = 30
    with pytest.raises(SecretSetError, match="still pending"):
        provider.create({**props(A="old", B="old"), "__urn": URN, "readyTimeout": 0.3})
    emu.config.secret_ready_seconds = 0.2
    created = provider.create({**props(A=VALUE, B="2"), "__urn": URN})
    assert created.outs["status"] == "ready"
    assert emu.store.secret_sets["bot-secrets"].values == {"A": VALUE, "B": "2"}

    # Settled once the engine diffs it from its state: the same set is not "left by an
    # interrupted up" a second time.
    provider.diff("bot-secrets", created.outs, {**props(A=VALUE, B="2"), "__urn": URN})
    with pytest.raises(SecretSetError, match="this stack did not create it"):
        provider.create({**props(A="x", B="y"), "__urn": URN})
    assert emu.store.secret_sets["bot-secrets"].values == {"A": VALUE, "B": "2"}

    # Another stack's set, with exactly the declared keys: never taken over.
    emu.store.delete_secret_set("bot-secrets")
    emu.store.put_secret_set("bot-secrets", "us-west", {"A": "theirs"}, None)
    other = URN.replace("::proj::", "::other::")
    with pytest.raises(SecretSetError) as raised:
        provider.create({**props(A=VALUE), "__urn": other})
    assert "this stack did not create it (with the same keys)" in str(raised.value)
    assert "adopt_existing=True" in str(raised.value)
    assert emu.store.secret_sets["bot-secrets"].values == {"A": "theirs"}

    # With other keys, the refusal names them (never values); another region is refused too.
    emu.store.put_secret_set("bot-secrets", "us-west", {"X": "theirs"}, None)
    with pytest.raises(SecretSetError) as raised:
        provider.create(props(A=VALUE))
    assert "(it has the keys A, X; this program declares A)" in str(raised.value)
    assert "theirs" not in str(raised.value) and VALUE not in str(raised.value)
    with pytest.raises(SecretSetError, match="already exists in region us-west"):
        provider.create({**props(A=VALUE, X="x"), "region": "eu-central", "adoptExisting": True})


def test_a_set_is_adopted_on_purpose(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    emu.store.put_secret_set("bot-secrets", "us-west", {"A": "theirs", "X": "theirs"}, None)
    adopted = provider.create({**props(A=VALUE, B="2"), "adoptExisting": True})
    assert adopted.outs["keys"] == ["A", "B"]
    assert emu.store.secret_sets["bot-secrets"].values == {"A": VALUE, "B": "2"}
    provider.delete("bot-secrets", adopted.outs)
    assert "bot-secrets" not in emu.store.secret_sets


def test_a_newcomer_under_the_name_is_left_alone(emu: Emulator) -> None:
    provider = configured(SecretSetProvider, emu)
    ours = provider.create(props(A=VALUE, B="2")).outs
    # Deleted by hand; someone makes another set of the same name with other keys.
    emu.store.delete_secret_set("bot-secrets")
    emu.store.put_secret_set("bot-secrets", "us-west", {"THEIRS": "x"}, None)

    with pytest.raises(SecretSetError) as raised:
        provider.update("bot-secrets", ours, props(A="new", B="2"))
    assert "it is not the one this stack created (it has the keys THEIRS" in str(raised.value)
    assert "pulumi refresh" in str(raised.value)
    assert provider.read("bot-secrets", ours).id == ""  # refresh forgets it
    provider.delete("bot-secrets", ours)
    assert emu.store.secret_sets["bot-secrets"].values == {"THEIRS": "x"}

    # Taken over on purpose.
    updated = provider.update("bot-secrets", ours, {**props(A="new"), "adoptExisting": True})
    assert updated.outs["keys"] == ["A"]
    assert emu.store.secret_sets["bot-secrets"].values == {"A": "new"}


def test_a_newcomer_image_pull_secret_in_another_region_is_left_alone(emu: Emulator) -> None:
    pull = configured(ImagePullSecretProvider, emu)
    given = {"setName": "ghcr", "region": "us-west", "host": "https://ghcr.io"}
    ours = pull.create({**given, "username": "bot", "password": VALUE, "readyTimeout": 10}).outs
    emu.store.delete_secret_set("ghcr")
    emu.store.put_secret_set("ghcr", "eu-central", {"x": "y"}, "https://ghcr.io")
    pull.delete("ghcr", ours)
    assert "ghcr" in emu.store.secret_sets


def test_a_reason_that_echoes_a_value_is_withheld(emu: Emulator) -> None:
    withheld = "the service's answer echoed a secret value; not shown: check this resource's inputs"
    provider = configured(SecretSetProvider, emu)
    emu.store.fail_secret_set("bot-secrets", f"value {VALUE} is refused")
    with pytest.raises(SecretSetError) as raised:
        provider.create(props(A=VALUE))
    assert str(raised.value) == (
        f"secret set bot-secrets: provisioning failed: {withheld}; the set was deleted again"
    )

    pull = configured(ImagePullSecretProvider, emu)
    credentials = base64.b64encode(f"bot:{VALUE}".encode()).decode()
    emu.store.fail_secret_set("ghcr", f"cannot log in with {credentials}")
    given = {"setName": "ghcr", "region": "us-west", "host": "https://ghcr.io"}
    with pytest.raises(SecretSetError) as raised:
        pull.create({**given, "username": "bot", "password": VALUE, "readyTimeout": 10})
    assert str(raised.value) == (
        f"image pull secret ghcr: provisioning failed: {withheld}; the set was deleted again"
    )

    # A reason that echoes nothing is shown as it is.
    emu.store.fail_secret_set("bot-secrets", "quota of secret sets reached")
    with pytest.raises(SecretSetError, match="provisioning failed: quota of secret sets reached"):
        provider.create(props(A=VALUE))


def test_a_secret_object_is_refused_in_one_line() -> None:
    import pulumi

    from pcc_provider.secrets import SecretSet

    # An Output needs an event loop; an earlier asyncio.run() in this worker leaves none.
    asyncio.set_event_loop(asyncio.new_event_loop())
    with pytest.raises(pulumi.RunError) as raised:
        SecretSet("bot", set_name="bot-secrets", secrets=pulumi.Output.secret({"A": "b"}))  # type: ignore[arg-type]
    assert str(raised.value).startswith(
        "SecretSet 'bot': secrets must be a dict of KEY: value (values may be secrets)"
    )
    with pytest.raises(pulumi.RunError, match="the value of secret K is missing"):
        SecretSet("bot", set_name="bot-secrets", secrets={"K": None})  # type: ignore[dict-item]
