"""Names are matched whole, in the provider and in the emulator, by the spec's patterns: a
trailing newline (which `$` lets through) is refused everywhere (issue 16 item 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_contract import Client

from pcc_provider import agent, secrets
from pcc_provider.emulator import spec

pytestmark = pytest.mark.emulator()  # every setting at its default


def _spec_patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _spec_patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _spec_patterns(value)


def test_every_name_pattern_of_the_spec_is_the_providers() -> None:
    found = set(_spec_patterns(json.loads(spec.SPEC_FILE.read_text(encoding="utf-8"))))
    assert found == {agent.SERVICE_NAME.pattern, secrets.SET_NAME.pattern}
    assert agent.SERVICE_NAME.pattern == spec.SERVICE_NAME_RE.pattern
    assert secrets.SET_NAME.pattern == spec.SECRET_SET_NAME_RE.pattern
    assert agent.SERVICE_NAME_MAX == spec.SERVICE_NAME_MAX


@pytest.mark.parametrize("end", ["\n", "\r\n", "\n\n"])
def test_provider_refuses_names_with_a_trailing_newline(end: str) -> None:
    assert secrets.set_name_problem("qe-set2") is None
    assert secrets.set_name_problem("qe-set2" + end) == (
        f"set_name {'qe-set2' + end!r} is not a valid secret set name: use 3 to 63 lowercase "
        "letters, digits, hyphens and dots, starting and ending with a letter or digit"
    )
    assert secrets.key_problem("KEY") is None
    assert secrets.key_problem("KEY" + end) == (
        f"secret key {'KEY' + end!r} is not valid: use at most 64 letters, digits, "
        "underscores and hyphens"
    )
    assert agent.problems({"serviceName": "nl-agent", "image": "x:1"}) == []
    assert [p for p, _ in agent.problems({"serviceName": "nl-agent" + end, "image": "x:1"})] == [
        "serviceName"
    ]


def test_emulator_refuses_names_with_a_trailing_newline(api: Client, tmp_path: Path) -> None:
    body = {"secrets": [{"secretKey": "KEY", "secretValue": "v"}]}
    refused = api.raw("PUT", "/secrets/qe-set2%0A", json=body)
    assert refused.status_code == 400, refused.text
    refused = api.raw(
        "PUT", "/secrets/qe-set2", json={"secrets": [{"secretKey": "KEY\n", "secretValue": "v"}]}
    )
    assert refused.status_code == 400, refused.text
    assert api.call("GET", "/secrets", 200) == {"sets": []}
    assert not any("\n" in p.name for p in (tmp_path / "state").rglob("*"))

    refused = api.raw("POST", "/agents", json={"serviceName": "nl-agent\n", "image": "x:1"})
    assert refused.status_code == 400, refused.text
    assert (
        api.raw("GET", "/builds/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12 + "%0A").status_code
        == 400
    )
    # The same names without the newline are accepted.
    api.call("PUT", "/secrets/qe-set2", 202, json=body)
    api.call("POST", "/agents", 200, json={"serviceName": "nl-agent", "image": "x:1"})
