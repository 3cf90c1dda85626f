"""The emulator's organization keys, through the provider's client (api.Client): made, listed,
revoked as pcc 1.4.0 sees them (tests/engine/test_org_keys.py drives `pcc` itself), kept
across a restart, and a public key refused by the private API, as the real one is."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from conftest import API_KEY

from pcc_provider import api
from pcc_provider.emulator import Emulator


def test_keys_survive_a_restart_and_a_revoke_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(state, api_key=API_KEY) as emu, api.Client(API_KEY, f"{emu.url}/v1") as client:
        web = client.create_api_key("web", "public")
        pull = client.mint_registry_key("ws")
        kept = client.create_api_key("kept", "public")
        client.revoke_api_key(web["id"])
        client.revoke_registry_key(pull["id"])
    with Emulator(state, api_key=API_KEY) as emu, api.Client(API_KEY, f"{emu.url}/v1") as client:
        listed = {k["id"]: k for k in client.list_api_keys()}
        assert listed[web["id"]]["revoked"] is True
        assert listed[kept["id"]]["revoked"] is False
        assert listed[kept["id"]]["key"] == kept["key"]
        (registry,) = client.list_registry_keys()
        assert registry["status"] == "revoked" and "key" not in registry
        assert pull["key"].startswith(registry["key_prefix"])
        # The material was shown once: the state folder holds a digest, never the key.
        on_disk = "".join(p.read_text() for p in (state / "registry-keys").glob("*.json"))
        assert pull["key"] not in on_disk
        # Revoking again changes nothing; an unknown id is 404.
        client.revoke_api_key(web["id"])
        with pytest.raises(api.NotFound):
            client.revoke_registry_key("rk_unknown")


def test_public_key_is_refused_by_the_private_api(tmp_path: Path) -> None:
    with (
        Emulator(tmp_path / "s", api_key=API_KEY) as emu,
        api.Client(API_KEY, f"{emu.url}/v1") as client,
    ):
        public = client.create_api_key("web", "public")["key"]
        answer = requests.get(
            f"{emu.url}/v1/agents", headers={"Authorization": f"Bearer {public}"}, timeout=10
        )
        assert answer.status_code == 401
        with pytest.raises(api.ApiError, match="only 'public' keys"):
            client.create_api_key("server", "private")
