"""The release, installed as users will install it, with nothing of the checkout in reach.

`make dist` wrote dist/; a release host on 127.0.0.1 serves it in place of the project's
GitHub releases. Each program lives in a folder outside the repository, with a fresh
PULUMI_HOME and a PATH holding only the Pulumi CLI, its language hosts and the language's
own toolchain: not .venv/bin, not pulumi-resource-pipecat. The engine then downloads the
plugin by itself, from the URL the schema (and so each SDK) names. The YAML program runs in
a mount namespace where no Python exists at all: the plugin is a frozen binary.

The Python door (the wheel in a user's virtualenv) is tests/engine/test_package.py's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import API_KEY, EmulatorHandle
from pulumi_stack import REPO, VENV_BIN, Stack, engine_env
from release import VERSION, ReleaseHost, checksum, plugin_archive, release_host, released
from test_go import PROGRAM as GO_PROGRAM

from pcc_provider.native.archive import PLUGIN
from pcc_provider.native.schema import PLUGIN_DOWNLOAD_URL, schema

pytestmark = [pytest.mark.engine, pytest.mark.package]

DOCKERFILE = "FROM python:3.12-slim\nCOPY bot.py /app/bot.py\n"
HOSTS = ("pulumi-language-yaml", "pulumi-language-nodejs", "pulumi-language-go")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseHost]:
    with release_host(tmp_path_factory.mktemp("release-host")) as serving:
        yield serving


@pytest.fixture
def cli(tmp_path: Path) -> Path:
    """A folder with only the Pulumi CLI and its language hosts, as a user's install has."""
    folder = tmp_path / "pulumi-cli"
    folder.mkdir()
    binary = (VENV_BIN / "pulumi").resolve()
    try:
        os.link(binary, folder / "pulumi")  # the CLI trusts the hosts beside itself
    except OSError:
        shutil.copy2(binary, folder / "pulumi")
    for name in HOSTS:
        (folder / name).symlink_to((VENV_BIN / name).resolve())
    return folder


def toolchain_path(cli: Path, *tools: str) -> str:
    """The CLI folder, then the folders of the language's own tools (node, go)."""
    folders = [str(cli)]
    for tool in tools:
        found = shutil.which(tool)
        assert found, f"{tool} is missing"
        folder = str(Path(found).parent)
        if folder not in folders and Path(folder) != VENV_BIN:
            folders.append(folder)
    path = os.pathsep.join(folders)
    assert shutil.which(PLUGIN, path=path) is None, f"{PLUGIN} is on {path}"
    return path


def user_engine(tmp_path: Path, host: ReleaseHost, path: str) -> dict[str, str]:
    home, state = tmp_path / "pulumi-home", tmp_path / "pulumi-state"
    home.mkdir()
    state.mkdir()
    env = engine_env(home, state)
    # A user's engine fetches missing plugins (the tests' default turns that off).
    del env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"]
    env["PATH"] = path
    env["PULUMI_PLUGIN_DOWNLOAD_URL_OVERRIDES"] = host.overrides
    env["SSL_CERT_FILE"] = str(host.ca_bundle)
    env["PCC_PROVIDER_CACHE_DIR"] = str(tmp_path / "context-cache")
    return env


def project(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    folder = tmp_path / name
    assert REPO not in folder.parents
    for rel, text in {
        "agent/Dockerfile": DOCKERFILE,
        "agent/bot.py": "print('hello')\n",
        **files,
    }.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def up_unchanged_destroy(stack: Stack, emulator: EmulatorHandle, host: ReleaseHost) -> None:
    """The life of a program from the release: the engine fetched the plugin once."""
    stack.config("pipecat:apiUrl", emulator.api_url)
    stack.config("pipecat:apiKey", API_KEY, secret=True)
    up = stack.up()
    assert "+ 2 created" in up.stdout, up.output  # the stack and the Build
    assert "from $PATH" not in up.output, up.output
    installed = Path(stack.env["PULUMI_HOME"]) / "plugins" / f"resource-pipecat-v{VERSION}"
    assert (installed / PLUGIN).is_file(), sorted(installed.parent.iterdir())
    assert host.downloads(plugin_archive().name) >= 1, host.requests
    build_id = stack.outputs()["buildId"]
    assert [b["id"] for b in emulator.api("GET", "/builds").json()["builds"]] == [build_id]

    preview = stack.pulumi("preview", "--stack", stack.name, "--expect-no-changes")
    assert "2 unchanged" in preview.stdout, preview.output
    stack.destroy()
    assert stack.resources() == []


def test_the_release_agrees_on_one_version() -> None:
    """The wheel, the sdist, the plugin, the npm package, the Go module, the schema and the
    CHANGELOG all say pcc_provider.__version__, and the SDKs carry the download URL."""
    released(f"pcc_provider-{VERSION}-py3-none-any.whl")
    released(f"pcc_provider-{VERSION}.tar.gz")
    with tarfile.open(plugin_archive()) as archive:
        assert PLUGIN in archive.getnames() and archive.getmember(PLUGIN).mode & 0o111
    with tarfile.open(released(f"pcc-provider-pipecat-{VERSION}.tgz")) as archive:
        package = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
    assert package["version"] == VERSION
    assert package["pulumi"] == {
        "resource": True,
        "name": "pipecat",
        "version": VERSION,
        "server": PLUGIN_DOWNLOAD_URL,
    }
    module = REPO / "dist" / "goproxy" / "github.com/pcc-provider/pcc-provider/sdk/@v"
    with zipfile.ZipFile(module / f"v{VERSION}.zip") as archive:
        prefix = f"github.com/pcc-provider/pcc-provider/sdk@v{VERSION}/"
        plugin = json.loads(archive.read(prefix + "go/pipecat/pulumi-plugin.json"))
    assert plugin == {
        "resource": True,
        "name": "pipecat",
        "version": VERSION,
        "server": PLUGIN_DOWNLOAD_URL,
    }
    assert schema()["version"] == VERSION and schema()["pluginDownloadURL"] == PLUGIN_DOWNLOAD_URL
    notes = subprocess.run(
        [sys.executable, REPO / "scripts" / "dist.py", "notes"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert notes.strip(), f"CHANGELOG.md has no section for {VERSION}"


def without_python() -> tuple[str, ...]:
    """A launcher running its command where no Python can be found or started: every
    Python installation of this machine, this checkout included, under an empty tmpfs."""
    hidden = {Path(sys.base_prefix), Path(sys.prefix), REPO, *Path("/usr/lib").glob("python3*")}
    hidden |= {p for p in (Path("/usr/local/lib").glob("python3*")) if p.is_dir()}
    if (pyenv := os.environ.get("PYENV_ROOT")) and Path(pyenv).is_dir():
        hidden.add(Path(pyenv))
    tools = {name: shutil.which(name) for name in ("unshare", "mount", "sh")}
    assert all(tools.values()), tools
    tops = [p for p in hidden if p.is_dir() and not any(h in p.parents for h in hidden)]
    mounts = " ".join(f"{tools['mount']} -t tmpfs none {p};" for p in sorted(tops))
    script = f'{mounts} exec "$@"'
    return (tools["unshare"], "-m", "--propagation", "private", tools["sh"], "-c", script, "sh")  # type: ignore[return-value]


def test_a_yaml_program_comes_up_from_the_release_with_no_python_on_the_machine(
    tmp_path: Path, cli: Path, host: ReleaseHost, emulator: EmulatorHandle
) -> None:
    launcher = without_python()
    probe = subprocess.run(
        [*launcher, "sh", "-c", "python3 -c pass || python -c pass"], capture_output=True
    )
    assert probe.returncode != 0, "a Python still runs in the namespace"

    folder = project(
        tmp_path,
        "yaml-program",
        {
            # The package file of the release, fetched as docs/installation-configuration.md says.
            f"sdks/pipecat-{VERSION}.yaml": released(f"pipecat-{VERSION}.yaml").read_text(),
            "Pulumi.yaml": (
                "name: release-yaml\n"
                "runtime: yaml\n"
                "resources:\n"
                "  image:\n"
                "    type: pipecat:index:Build\n"
                "    properties:\n"
                "      context: ./agent\n"
                "outputs:\n"
                "  buildId: ${image.buildId}\n"
            ),
        },
    )
    env = user_engine(tmp_path, host, toolchain_path(cli))
    stack = Stack(folder, "dev", env, launcher=launcher).init()
    up_unchanged_destroy(stack, emulator, host)


TYPESCRIPT = """\
import * as pipecat from "@pcc-provider/pipecat";

const image = new pipecat.Build("image", { context: "./agent" });
// Output<string>: the schema marks buildId as always there.
export const buildId: import("@pulumi/pulumi").Output<string> = image.buildId;
"""


def test_a_typescript_program_comes_up_from_the_npm_tarball(
    tmp_path: Path, cli: Path, host: ReleaseHost, emulator: EmulatorHandle
) -> None:
    pinned = json.loads((REPO / "tests" / "typescript" / "package.json").read_text())
    folder = project(
        tmp_path,
        "ts-program",
        {
            "Pulumi.yaml": "name: release-ts\nruntime: nodejs\n",
            "index.ts": TYPESCRIPT,
            "package.json": json.dumps(
                {
                    "name": "release-ts",
                    "main": "index.ts",
                    "dependencies": {
                        name: version
                        for name, version in pinned["dependencies"].items()
                        if name != "@pcc-provider/pipecat"
                    },
                }
            ),
            "tsconfig.json": json.dumps(
                {
                    "compilerOptions": {
                        "strict": True,
                        "target": "es2020",
                        "module": "commonjs",
                        "moduleResolution": "node",
                    },
                    "files": ["index.ts"],
                }
            ),
        },
    )
    path = toolchain_path(cli, "node", "npm")
    env = user_engine(tmp_path, host, path)
    tarball = released(f"pcc-provider-pipecat-{VERSION}.tgz")
    npm = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", str(tarball)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    assert npm.returncode == 0, npm.stderr
    installed = folder / "node_modules" / "@pcc-provider" / "pipecat"
    assert installed.is_dir() and not installed.is_symlink()

    up_unchanged_destroy(Stack(folder, "dev", env).init(), emulator, host)


def test_a_go_program_comes_up_from_the_go_module(
    tmp_path: Path, cli: Path, host: ReleaseHost, emulator: EmulatorHandle
) -> None:
    folder = project(
        tmp_path,
        "go-program",
        {
            "Pulumi.yaml": "name: release-go\nruntime: go\n",
            "main.go": GO_PROGRAM,  # the Go test's program, on the released module
            "go.mod": "module release-go\n\ngo 1.25\n",
        },
    )
    env = user_engine(tmp_path, host, toolchain_path(cli, "go"))
    # The module as `go get` will fetch it once tagged: from a proxy (the release host's
    # copy first), not checked against the public checksum database, which does not know it.
    env["GOPROXY"] = f"{host.url}/goproxy,{os.environ.get('GOPROXY', 'https://proxy.golang.org')}"
    env["GONOSUMDB"] = "github.com/pcc-provider"
    got = subprocess.run(
        ["go", "get", f"github.com/pcc-provider/pcc-provider/sdk@v{VERSION}"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert got.returncode == 0, got.stderr
    tidy = subprocess.run(["go", "mod", "tidy"], cwd=folder, env=env, capture_output=True)
    assert tidy.returncode == 0, tidy.stderr
    assert f"github.com/pcc-provider/pcc-provider/sdk v{VERSION}" in (folder / "go.mod").read_text()

    up_unchanged_destroy(Stack(folder, "dev", env).init(), emulator, host)


def test_plugin_install_with_the_published_checksum_and_a_wrong_one_refused(
    tmp_path: Path, cli: Path, host: ReleaseHost
) -> None:
    env = user_engine(tmp_path, host, toolchain_path(cli))
    install = ["pulumi", "plugin", "install", "resource", "pipecat", VERSION]
    plugins = Path(env["PULUMI_HOME"]) / "plugins" / f"resource-pipecat-v{VERSION}"

    wrong = subprocess.run(
        [*install, "--server", host.url, "--checksum", "0" * 64],
        env=env,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0, wrong.stdout
    assert "checksum" in wrong.stderr.lower(), wrong.stderr
    assert not (plugins / PLUGIN).exists()

    right = subprocess.run(
        [*install, "--server", host.url, "--checksum", checksum(plugin_archive().name)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert right.returncode == 0, right.stderr
    assert (plugins / PLUGIN).is_file()
