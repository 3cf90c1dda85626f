"""The emulator's runtime settings: how long builds, deployments and sets take, upload limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    """Runtime knobs; changed live by POST /_emulator/config. Not persisted: each build and
    deployment records the durations it was created with."""

    build_seconds: float = 3.0
    upload_ttl_seconds: float = 900.0
    max_upload_bytes: int = 500 * 1024 * 1024
    agent_ready_seconds: float = 1.0
    secret_ready_seconds: float = 0.5
    agent_delete_seconds: float = 0.0  # how long a deleted agent is still seen
