"""Deployment: what `pcc deploy` would deploy from a `pcc-deploy.toml`, as Pulumi resources.

The file is read as pipecatcloud 1.4.0 reads it (`pipecatcloud/_utils/deploy_utils.py`,
`load_deploy_config_file`): a cloud build when it names neither `image` nor `build_id`
(its `[build]` context, Dockerfile and `[build.exclude]` patterns), else that image or build;
the agent with the file's name, region, `[scaling]`, profile, `[krisp_viva]` and session
limit, bound to its `secret_set` and `image_credentials` by name. Paths are relative to the
file's folder (`pcc deploy` takes them relative to where it runs, which is that folder).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pulumi

from pcc_provider.agent import Agent
from pcc_provider.build import Build

# What `pcc deploy` sends that the public API (and so the Agent) cannot express.
UNSUPPORTED = {
    "resources": "explicit resources (use agent_profile)",
    "git": "a GitHub source (the agent builds from a repository)",
    "websocket_auth": "websocket_auth",
    "architecture": "architecture",
    "enable_krisp": "enable_krisp (pcc 1.4 reads [krisp_viva] audio_filter)",
}
# Read by `pcc docker build-push`, not by `pcc deploy`.
IGNORED = ("docker",)
KNOWN = {
    "agent_name",
    "image",
    "build_id",
    "image_credentials",
    "secret_set",
    "region",
    "scaling",
    "build",
    "agent_profile",
    "krisp_viva",
    "max_session_duration",
}


class DeployFileError(Exception):
    """A pcc-deploy.toml this component cannot deploy; str() is for the user."""


def read_deploy_file(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the Agent's keyword arguments, the Build's or None) that `pcc deploy` would deploy
    from the file at `path`."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise DeployFileError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeployFileError(f"{path} is not valid TOML: {exc}") from None
    for key in data:
        if key in UNSUPPORTED:
            raise DeployFileError(
                f"{path}: {key!r} sets {UNSUPPORTED[key]}, which the Pipecat Cloud API this "
                "provider uses cannot express: remove it from the file to deploy with Pulumi"
            )
        if key not in KNOWN and key not in IGNORED:
            raise DeployFileError(f"{path}: unexpected key {key!r} (pcc deploy refuses it too)")
    if not data.get("agent_name"):
        raise DeployFileError(f"{path}: agent_name is missing")
    scaling = data.get("scaling") or {}
    krisp = data.get("krisp_viva") or {}
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
    }
    if data.get("image") and data.get("build_id"):
        raise DeployFileError(f"{path}: give image or build_id, not both")
    if data.get("image"):
        return {**agent, "image": data["image"]}, None
    if data.get("build_id"):
        return {**agent, "build_id": data["build_id"]}, None
    build = data.get("build") or {}
    exclude = build.get("exclude") or {}
    return agent, {
        "context": str(path.parent / build.get("context_dir", ".")),
        "dockerfile": build.get("dockerfile", "Dockerfile"),
        "exclude": list(exclude.get("patterns") or []),
        "region": data.get("region"),
    }


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
        config_file: str = "pcc-deploy.toml",
        opts: pulumi.ResourceOptions | None = None,
        **overrides: Any,
    ) -> None:
        try:
            agent_args, build_args = read_deploy_file(Path(config_file))
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
            else pulumi.Output.from_input(agent_args.get("image"))
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
