#!/usr/bin/env python3
"""The release: what `make dist` writes into dist/, and what each job of
.github/workflows/release.yml builds on its own machine.

    python scripts/dist.py all [--out dist]      everything below, for this machine
    python scripts/dist.py python [--out dist]   the wheel and the sdist
    python scripts/dist.py plugin [--out dist]   pulumi-resource-pipecat-v<V>-<os>-<arch>.tar.gz
    python scripts/dist.py npm [--out dist]      the @pcc-provider/pipecat tarball (npm pack)
    python scripts/dist.py go [--out dist]       the Go SDK module as a Go proxy serves it
    python scripts/dist.py yaml [--out dist]     pipecat-<V>.yaml, a YAML program's package file
    python scripts/dist.py checksums [DIR]       DIR/SHA256SUMS over the archives in DIR
    python scripts/dist.py version               pcc_provider.__version__, the one version
    python scripts/dist.py notes [VERSION]       that version's CHANGELOG section

The plugin is a PyInstaller one-folder build of the native provider: a launcher and its
`_internal/` folder with the Python runtime and every dependency, so it runs with no
Python, no pcc-provider and no network on the user's machine
(docs/installation-configuration.md: "Install").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pcc_provider import __version__  # noqa: E402
from pcc_provider.native.archive import PLUGIN, archive_name  # noqa: E402

GO_MODULE = "github.com/pcc-provider/pcc-provider/sdk"
NPM_TARBALL = f"pcc-provider-pipecat-{__version__}.tgz"
# Modules PyInstaller's analysis finds but the plugin never runs: the emulator and its
# server stack, and optional imports of the SDKs (pyopenssl's cryptography, dill's sqlite3).
NOT_IN_PLUGIN = ("pcc_provider.emulator", "werkzeug", "waitress", "cryptography", "sqlite3")
NOT_IN_PLUGIN += ("tkinter", "pytest", "hypothesis", "pipecatcloud", "mypy", "IPython")


def say(message: str) -> None:
    print(f"dist: {message}", file=sys.stderr)


def run(*argv: str | Path, cwd: Path = ROOT) -> str:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"dist: {' '.join(map(str, argv))} failed\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def python(out: Path) -> list[Path]:
    # The sdist first and the wheel from it, so the wheel proves the sdist is whole.
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return [
        out / f"pcc_provider-{__version__}.tar.gz",
        out / f"pcc_provider-{__version__}-py3-none-any.whl",
    ]


def plugin(out: Path) -> Path:
    """The frozen plugin, archived as the engine expects: the executable at the top."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        entry = work / "pulumi_resource_pipecat.py"
        entry.write_text("from pcc_provider.native.server import main\n\nmain()\n")
        argv: list[str | Path] = [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--onedir",
            "--name",
            PLUGIN,
            "--paths",
            ROOT,  # an editable install is invisible to PyInstaller's analysis
            "--distpath",
            work / "dist",
            "--workpath",
            work / "build",
            "--specpath",
            work,
            "--log-level",
            "WARN",
        ]
        if sys.platform.startswith("linux"):
            argv.append("--strip")
        for module in NOT_IN_PLUGIN:
            argv += ["--exclude-module", module]
        run(*argv, entry)
        folder = work / "dist" / PLUGIN
        path = out / archive_name()
        with tarfile.open(path, "w:gz") as archive:
            for item in sorted(folder.iterdir()):
                archive.add(item, arcname=item.name, filter=_plain)
    return path


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def npm(out: Path) -> Path:
    """`npm pack` of the built SDK (sdk/nodejs/bin, as scripts/install-pulumi-nodejs
    builds it): the tarball npm publishes, installable by its path."""
    sdk = ROOT / "sdk" / "nodejs"
    run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=sdk)
    run("npx", "tsc", cwd=sdk)
    for name in ("package.json", "README.md"):
        shutil.copy(sdk / name, sdk / "bin" / name)
    packed = json.loads(run("npm", "pack", "--json", "--pack-destination", out, cwd=sdk / "bin"))
    path = out / packed[0]["filename"]
    if path.name != NPM_TARBALL:
        sys.exit(f"dist: npm pack wrote {path.name}, expected {NPM_TARBALL}")
    return path


def go(out: Path) -> Path:
    """The Go SDK module at v<V>, laid out as a Go module proxy serves it (GOPROXY=file or
    http): what `go get` will fetch once the sdk/v<V> tag is pushed, testable before."""
    version = f"v{__version__}"
    sdk = ROOT / "sdk"
    folder = out / "goproxy" / GO_MODULE / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    # The module's files are what git tracks under sdk/ (not node_modules or builds).
    tracked = run("git", "ls-files", "-z", "sdk", cwd=ROOT).split("\0")
    prefix = f"{GO_MODULE}@{version}/"
    zip_path = folder / f"{version}.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(n for n in tracked if n):
            relative = Path(name).relative_to("sdk").as_posix()
            archive.write(ROOT / name, prefix + relative)
    shutil.copy(sdk / "go.mod", folder / f"{version}.mod")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (folder / f"{version}.info").write_text(json.dumps({"Version": version, "Time": stamp}))
    (folder / "list").write_text(version + "\n")
    return zip_path


def yaml(out: Path) -> Path:
    """The package declaration a YAML program keeps beside its Pulumi.yaml (what `pulumi
    package add` writes for YAML): the version and where the engine fetches the plugin."""
    from pcc_provider.native.schema import PACKAGE, PLUGIN_DOWNLOAD_URL

    path = out / f"{PACKAGE}-{__version__}.yaml"
    path.write_text(
        "packageDeclarationVersion: 1\n"
        f"name: {PACKAGE}\n"
        f"version: {__version__}\n"
        f"downloadUrl: {PLUGIN_DOWNLOAD_URL}\n"
    )
    return path


def checksums(folder: Path) -> Path:
    """SHA256SUMS in the format of `sha256sum`, over the files a release carries."""
    lines = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != "SHA256SUMS":
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    target = folder / "SHA256SUMS"
    target.write_text("".join(lines))
    return target


def notes(version: str) -> str:
    """The CHANGELOG section `## <version>` (a suffix such as "(unreleased)" allowed)."""
    text = (ROOT / "CHANGELOG.md").read_text()
    match = re.search(
        rf"^## {re.escape(version)}(?: [^\n]*)?\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL
    )
    if match is None:
        sys.exit(f"dist: CHANGELOG.md has no section '## {version}'")
    return match[1].strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/dist.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "what",
        choices=("all", "python", "plugin", "npm", "go", "yaml", "checksums", "version", "notes"),
    )
    parser.add_argument("arg", nargs="?", help="checksums: the folder; notes: the version")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    if args.what == "version":
        print(__version__)
        return
    if args.what == "notes":
        print(notes(args.arg or __version__), end="")
        return
    if args.what == "checksums":
        print(checksums(Path(args.arg) if args.arg else args.out))
        return
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    steps = ("python", "plugin", "npm", "go", "yaml") if args.what == "all" else (args.what,)
    for step in steps:
        start = time.monotonic()
        made = {"python": python, "plugin": plugin, "npm": npm, "go": go, "yaml": yaml}[step](out)
        for path in made if isinstance(made, list) else [made]:
            size = path.stat().st_size / 1e6
            say(f"{path.relative_to(out)} ({size:.1f} MB, {time.monotonic() - start:.0f} s)")
    if args.what == "all":
        say(f"{checksums(out).relative_to(out)}")


if __name__ == "__main__":
    main()
