"""A local Pipecat Cloud: builds, uploads and agents over real HTTP on loopback.

    from pcc_provider.emulator import Emulator
    with Emulator(state_dir, api_key="k", build_seconds=0.5) as emu:
        emu.api_url  # point a client here

`python -m pcc_provider emulator` runs `serve`. Layout: models.py holds the state (no HTTP),
storage.py the presigned-POST upload target, app.py the WSGI app, server.py waitress.
"""

from pcc_provider.emulator.server import Emulator, serve

__all__ = ["Emulator", "serve"]
