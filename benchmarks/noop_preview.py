"""`pulumi preview` of an unchanged stack with 1 and 8 Builds, beside an empty program, in
the Python door and in YAML (the native door).

    .venv/bin/python benchmarks/noop_preview.py [--rounds N] [--dist DIR] [--json OUT]

Five projects on the same engine, state backend and emulator: an empty Python program
(`import pulumi`), one `Build`, eight `Build`s (small contexts); an empty YAML program and one
with one `Build`, served by the release's plugin as a user installs it (`pulumi plugin install
... --file` of the archive in DIR, which `scripts/dist.py plugin --out DIR` writes: `make bench`
makes it in .bench-data/dist; without one, the plugin of this virtualenv, named by path, and
the output says so). The Build stacks are brought up first; then each round
previews the five in turn (interleaved, so that load on the machine hits all alike). Prints
the median and best of each and the overhead over the empty program of its door. Exits 1 if
a target is missed (median overhead <= 0.25 s for 1 Build in either door, <= 0.4 s for 8) or
a preview shows a change. --json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import (
    REPO,
    Stack,
    builds_program,
    contexts,
    engine_stack,
    finish,
    json_option,
    recorder,
    timed,
)

from pcc_provider import __version__
from pcc_provider.emulator import Emulator
from pcc_provider.native.archive import archive_name

TARGETS = {1: 0.25, 8: 0.40}
YAML_TARGET = 0.25  # one Build in YAML, over an empty YAML program


def install_plugin(dist: Path, stack: Stack) -> Path | None:
    """The release's plugin installed as a user installs it (`pulumi plugin install ...
    --file`, into the stacks' PULUMI_HOME), so that the engine finds it by name and version
    and caches its schema (~/.pulumi/schemas): None. Without an archive in `dist`, the folder
    of this virtualenv's plugin, for the programs to name (the schema is then asked of a
    plugin started for it at each preview, as for any plugin without a version)."""
    archive = dist / archive_name()
    if not archive.exists():
        return Path(sys.executable).parent
    argv = ["pulumi", "plugin", "install", "resource", "pipecat", __version__, "--file"]
    subprocess.run([*argv, str(archive)], env=stack.env, check=True, capture_output=True)
    return None


def yaml_program(project: Path, name: str, builds: list[str], plugin: Path | None) -> None:
    """A YAML program (JSON is YAML) of these Builds; `plugin`: the folder of the plugin to
    name, else the one installed."""
    program: dict[str, Any] = {"name": name, "runtime": "yaml"}
    if plugin is not None:
        program["plugins"] = {"providers": [{"name": "pipecat", "path": str(plugin)}]}
    program["resources"] = {
        n: {"type": "pipecat:index:Build", "properties": {"context": n}} for n in builds
    }
    program["outputs"] = {n: f"${{{n}.buildId}}" for n in builds}
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))
    (project / "__main__.py").unlink()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="the plugin archive's")
    json_option(parser)
    args = parser.parse_args()
    rec = recorder("noop_preview", args)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "emulator", api_key="pk_benchmark_key", build_seconds=0.5) as emu,
    ):
        folder = Path(tmp)
        stacks = {"builds0": engine_stack(folder, "empty", "import pulumi\n", emu.api_url)}
        plugin = install_plugin(args.dist, stacks["builds0"])
        served_by = "this virtualenv's plugin" if plugin else "the release's plugin, installed"
        rec.params = {"rounds": args.rounds, "yaml_plugin": served_by}
        for count in TARGETS:
            names = [f"b{i}" for i in range(count)]
            stacks[f"builds{count}"] = engine_stack(
                folder,
                f"builds{count}",
                builds_program(count),
                emu.api_url,
                files=contexts(names),
            )
        for count in (0, 1):
            names = [f"b{i}" for i in range(count)]
            stack = engine_stack(folder, f"yaml{count}", "", emu.api_url, files=contexts(names))
            yaml_program(stack.dir, f"yaml{count}", names, plugin)
            if plugin is None:
                # As on the machine of a user of YAML: not this virtualenv's plugin on PATH.
                stack.env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"
            stacks[f"yaml{count}"] = stack
        for stack in stacks.values():
            stack.up()
        times: dict[str, list[float]] = {key: [] for key in stacks}
        unchanged = True
        for _ in range(args.rounds):
            for key, stack in stacks.items():
                times[key].append(timed(lambda s=stack: s.preview()))
        for key, stack in stacks.items():
            count = int(key.removeprefix("builds").removeprefix("yaml"))
            shown = stack.preview().stdout
            unchanged &= "to create" not in shown and (
                count == 0 or f"{count + 1} unchanged" in shown
            )
    print(f"{'pulumi preview, unchanged stack':34} {'median':>8} {'best':>8} {'over empty':>11}")
    checks = [("every preview shows no change", unchanged)]
    for key, runs in times.items():
        door = "yaml" if key.startswith("yaml") else "builds"
        count = int(key.removeprefix(door))
        empty = statistics.median(times[f"{door}0"])
        label = (
            ("empty YAML program" if door == "yaml" else "empty Python program")
            if count == 0
            else f"{count} Build{'s' * (count > 1)}{' in YAML' if door == 'yaml' else ''}"
        )
        target = YAML_TARGET if door == "yaml" else TARGETS.get(count, 0)
        over = statistics.median(runs) - empty
        print(
            f"{label:34} {statistics.median(runs):7.2f}s {min(runs):7.2f}s "
            f"{'' if count == 0 else f'{over:+10.2f}s'}"
        )
        rec.add(
            f"{key}.median",
            statistics.median(runs),
            "s",
            label,
            None if count == 0 else f"{door}0.median",
        )
        rec.add(f"{key}.best", min(runs), "s", f"{label}, best")
        if count:
            rec.add(
                f"{key}.over",
                over,
                "s",
                f"{label} over the empty program",
                target=f"<= +{target:g} s",
                ok=over <= target,
            )
            checks.append(
                (f"{label}: median {over:+.2f} s over empty <= {target} s", over <= target)
            )
    print(f"YAML: {served_by}")
    return finish(rec, checks)


if __name__ == "__main__":
    sys.exit(main())
