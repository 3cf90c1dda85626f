"""`pulumi preview` of an unchanged stack with 1 and 8 Builds, beside an empty program, in
the Python door and in YAML (the native door).

    .venv/bin/python benchmarks/noop_preview.py [--rounds N] [--dist DIR] [--json OUT]

Five projects on the same engine, state backend and emulator: an empty Python program
(`import pulumi`), one `Build`, eight `Build`s (small contexts); an empty YAML program and one
with one `Build`, served by the release's plugin (the archive of DIR, `scripts/dist.py plugin
--out DIR`: `make bench` makes it in .bench-data/dist; without one, the plugin of this
virtualenv, and the output says so). The Build stacks are brought up first; then each round
previews the five in turn (interleaved, so that load on the machine hits all alike). Prints
the median and best of each and the overhead over the empty program of its door. Exits 1 if
a target is missed (median overhead <= 0.25 s for 1 Build in either door, <= 0.4 s for 8) or
a preview shows a change. --json OUT records the figures (bench_results.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

from harness import (
    REPO,
    builds_program,
    contexts,
    engine_stack,
    finish,
    json_option,
    recorder,
    timed,
)

from pcc_provider.emulator import Emulator
from pcc_provider.native.archive import archive_name

TARGETS = {1: 0.25, 8: 0.40}
YAML_TARGET = 0.25  # one Build in YAML, over an empty YAML program


def plugin_folder(dist: Path, into: Path) -> tuple[Path, str]:
    """The folder of the plugin the YAML stacks name, and what it is."""
    archive = dist / archive_name()
    if not archive.exists():
        return Path(sys.executable).parent, "this virtualenv's plugin (no release archive)"
    with tarfile.open(archive) as unpacked:
        unpacked.extractall(into, filter="tar")
    return into, "the release's plugin"


def yaml_program(project: Path, name: str, builds: list[str], plugin: Path) -> None:
    """A YAML program (JSON is YAML) of these Builds, over the plugin in `plugin`."""
    program = {
        "name": name,
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(plugin)}]},
        "resources": {
            n: {"type": "pipecat:index:Build", "properties": {"context": n}} for n in builds
        },
        "outputs": {n: f"${{{n}.buildId}}" for n in builds},
    }
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
        plugin, served_by = plugin_folder(args.dist, folder / "plugin")
        rec.params = {"rounds": args.rounds, "yaml_plugin": served_by}
        stacks = {"builds0": engine_stack(folder, "empty", "import pulumi\n", emu.api_url)}
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
