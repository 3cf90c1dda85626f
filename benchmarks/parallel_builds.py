"""Eight Builds in one `pulumi up`, beside the `pulumi up` of a single Build.

    .venv/bin/python benchmarks/parallel_builds.py [--builds 8] [--seconds 5] [--yaml|--typescript]
                                                   [--json OUT]

With --yaml the programs are YAML over the native provider (pcc_provider/native), with
--typescript TypeScript over the generated SDK (sdk/nodejs; `make typescript` first), not
Python over the dynamic resources.

The emulator's builds take `--seconds` each. A one-Build stack and an N-Build stack (small
contexts, all new) are each brought up once with the engine's default `--parallel`; then
the same again with new contents, so each figure is the median of two. Exits 1 if N builds
take more than 1.5x the single build, or if the emulator did not build each context once.
--json OUT records the figures (bench_results.py) as parallel_builds, parallel_builds_yaml or
parallel_builds_typescript.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

from harness import builds_program, contexts, engine_stack, finish, json_option, recorder, timed

from pcc_provider.emulator import Emulator

TARGET = 1.5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--builds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--yaml", action="store_true", help="the native provider's door")
    parser.add_argument("--typescript", action="store_true", help="the generated TS SDK")
    json_option(parser)
    args = parser.parse_args()
    door = "yaml" if args.yaml else "typescript" if args.typescript else "python"
    rec = recorder("parallel_builds" + ("" if door == "python" else f"_{door}"), args)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(
            Path(tmp) / "emulator", api_key="pk_benchmark_key", build_seconds=args.seconds
        ) as emu,
    ):
        times: dict[int, list[float]] = {1: [], args.builds: []}
        for count in times:
            names = [f"b{i}" for i in range(count)]
            stack = engine_stack(
                Path(tmp),
                f"builds{count}",
                builds_program(count),
                emu.api_url,
                files=contexts(names),
            )
            if args.yaml:
                yaml_program(stack.dir, f"builds{count}", names)
            if args.typescript:
                typescript_program(stack.dir, f"builds{count}", names)
            for run in range(2):
                for name in names:  # new contents: every build is a new one
                    (stack.dir / name / "run.txt").write_text(f"stack {count}, run {run}\n")
                times[count].append(timed(stack.up))
        with urllib.request.urlopen(f"{emu.url}/_emulator/stats", timeout=10) as response:
            created = json.load(response)["requests"].get("POST /v1/builds", 0)
    one, many = statistics.median(times[1]), statistics.median(times[args.builds])
    print(f"builds of {args.seconds:g} s, one `pulumi up`     median    runs")
    print(f"{'1 Build (reference)':30} {one:7.2f}s   {' '.join(f'{t:.2f}' for t in times[1])}")
    print(
        f"{f'{args.builds} Builds':30} {many:7.2f}s   "
        f"{' '.join(f'{t:.2f}' for t in times[args.builds])}   = {many / one:.2f}x"
    )
    rec.params = {"builds": args.builds, "build_seconds": args.seconds, "door": door}
    rec.details = {"runs": {str(n): t for n, t in times.items()}}
    rec.add("one.seconds", one, "s", "1 Build, one pulumi up (median of 2)")
    rec.add("many.seconds", many, "s", f"{args.builds} Builds, one pulumi up", "one.seconds")
    rec.add(
        "ratio",
        many / one,
        "x",
        f"{args.builds} Builds over 1",
        target=f"<= {TARGET:g}x",
        ok=many / one <= TARGET,
    )
    return finish(
        rec,
        [
            (f"each build started once ({created} created)", created == 2 * (1 + args.builds)),
            (
                f"{args.builds} Builds: {many / one:.2f}x one build <= {TARGET}x",
                many / one <= TARGET,
            ),
        ],
    )


def yaml_program(project: Path, name: str, names: list[str]) -> None:
    """The same Builds as a YAML program (JSON is YAML), the plugin from this virtualenv."""
    program = {
        "name": name,
        "runtime": "yaml",
        "plugins": {"providers": [{"name": "pipecat", "path": str(Path(sys.executable).parent)}]},
        "resources": {
            n: {"type": "pipecat:index:Build", "properties": {"context": n}} for n in names
        },
        "outputs": {n: f"${{{n}.buildId}}" for n in names},
    }
    (project / "Pulumi.yaml").write_text(json.dumps(program, indent=2))
    (project / "__main__.py").unlink()


def typescript_program(project: Path, name: str, names: list[str]) -> None:
    """The same Builds as a TypeScript program on the generated SDK."""
    modules = Path(__file__).resolve().parent.parent / "tests" / "typescript" / "node_modules"
    plugin = Path(sys.executable).parent
    (project / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime: nodejs\nplugins:\n  providers:\n"
        f"    - name: pipecat\n      path: {plugin}\n"
    )
    lines = ['import * as pipecat from "@pcc-provider/pipecat";']
    lines += [
        f'export const {n} = new pipecat.Build("{n}", {{ context: "{n}" }}).buildId;' for n in names
    ]
    (project / "index.ts").write_text("\n".join(lines) + "\n")
    (project / "package.json").write_text(json.dumps({"name": name, "main": "index.ts"}))
    (project / "node_modules").symlink_to(modules)
    (project / "__main__.py").unlink()


if __name__ == "__main__":
    sys.exit(main())
