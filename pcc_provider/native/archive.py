"""The plugin as an archive for `pulumi plugin install resource pipecat <version> --file ...`.

For programs whose Pulumi.yaml should not name a folder on the machine (`plugins:
providers:`): the archive holds one executable, `pulumi-resource-pipecat`, that runs this
package's provider with the Python it was made with. That Python must keep pcc-provider
installed; the archive is made again after an upgrade (its name carries the version).
"""

from __future__ import annotations

import io
import platform
import shlex
import sys
import tarfile
from pathlib import Path

from pcc_provider import __version__

PLUGIN = "pulumi-resource-pipecat"


def archive_name(version: str = __version__) -> str:
    """As Pulumi names resource plugin archives: ...-v<version>-<os>-<arch>.tar.gz."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)  # Windows: amd64
    return f"{PLUGIN}-v{version}-{system}-{machine}.tar.gz"


def launcher(python: str) -> str:
    return (
        "#!/bin/sh\n"
        f"# The pipecat provider of pcc-provider {__version__}, run by the Python that has it.\n"
        f'exec {shlex.quote(python)} -m pcc_provider.native "$@"\n'
    )


def write_archive(folder: Path, python: str = sys.executable) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / archive_name()
    script = launcher(python).encode()
    with tarfile.open(path, "w:gz") as archive:
        entry = tarfile.TarInfo(PLUGIN)
        entry.size, entry.mode = len(script), 0o755
        archive.addfile(entry, io.BytesIO(script))
    return path
