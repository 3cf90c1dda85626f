"""Command line: `python -m pcc_provider hash|files|plugin|recover|emulator`.

Imports neither Pulumi nor the emulator's server stack unless the command needs it, so
`hash` on an unchanged context answers in a fraction of a second.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pcc_provider import __version__


def _context_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("context", help="the build context folder")
    parser.add_argument(
        "--dockerfile",
        default="Dockerfile",
        help="Dockerfile path relative to the context (default: Dockerfile)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="extra exclude pattern, as [build.exclude] patterns in pcc-deploy.toml (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _warn(warnings: Sequence[str]) -> None:
    # On stderr even with --json: stdout stays one JSON object.
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _hash(args: argparse.Namespace) -> int:
    from pcc_provider import context

    selected = context.select(args.context, args.dockerfile, args.exclude)
    _warn(selected.warnings)
    digest = context.digest(selected)
    if args.json:
        print(
            json.dumps(
                {
                    "contextHash": digest.context_hash,
                    "fileCount": len(selected.files),
                    "totalBytes": selected.total_bytes,
                    "archiveBytes": digest.archive_bytes,
                    "cached": digest.cached,
                    "secretFiles": list(selected.secret_files),
                    "symlinkedDirs": list(selected.symlinked_dirs),
                }
            )
        )
    else:
        print(
            f"{digest.context_hash}  {len(selected.files)} files, "
            f"{selected.total_bytes} bytes{' (cached)' if digest.cached else ''}"
        )
        for name in selected.secret_files:
            print(f"warning: {name} looks like a secret and would be uploaded", file=sys.stderr)
        for name in selected.symlinked_dirs:
            print(
                f"warning: {name} links to a folder; its contents are not uploaded", file=sys.stderr
            )
    return 0


def _files(args: argparse.Namespace) -> int:
    from pcc_provider import context

    selected = context.select(args.context, args.dockerfile, args.exclude)
    _warn(selected.warnings)
    if args.json:
        print(json.dumps({"files": list(selected.files), "totalBytes": selected.total_bytes}))
    else:
        for name in selected.files:
            print(name)
    return 0


def _plugin(args: argparse.Namespace) -> int:
    from pcc_provider.native.archive import write_archive

    path = write_archive(Path(args.out))
    print(path)
    print(
        f"install it with: pulumi plugin install resource pipecat {__version__} --file {path}",
        file=sys.stderr,
    )
    return 0


def _recover(args: argparse.Namespace) -> int:
    from pcc_provider import recovery

    return recovery.recover(args.stack, args.cwd, args.pulumi)


def _emulator(args: argparse.Namespace) -> int:
    from pcc_provider import emulator
    from pcc_provider.emulator.persistence import StateError
    from pcc_provider.emulator.settings import SETTINGS

    if not args.api_key:
        print(
            "error: the emulator needs an API key: pass --api-key KEY or set PIPECAT_API_KEY",
            file=sys.stderr,
        )
        return 2
    try:
        emulator.serve(
            host=args.host,
            port=args.port,
            state_dir=args.state_dir,
            api_key=args.api_key,
            **{setting.name: getattr(args, setting.name) for setting in SETTINGS},
        )
    except StateError as exc:  # the state folder in use or not usable, its identity unreadable
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: port {args.port} on {args.host} is in use: pass another --port "
                "(--port 0 picks a free one), or stop what listens there",
                file=sys.stderr,
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            print(f"error: {args.host} is not an address of this machine: pass --host "
                  "127.0.0.1", file=sys.stderr)  # fmt: skip
        else:
            print(
                f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
            )
        return 1
    return 0


def _emulator_settings(parser: argparse.ArgumentParser) -> None:
    """A flag for each of the emulator's settings, as settings.py declares them."""
    from pcc_provider.emulator.settings import SETTINGS, Setting

    def parser_of(setting: Setting) -> Callable[[str], float]:
        def parse(text: str) -> float:
            try:
                return setting.parse(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

        return parse

    for setting in SETTINGS:
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            type=parser_of(setting),
            default=setting.default,
            metavar="BYTES" if setting.whole else "SECONDS",
            help=f"{setting.help} (default: %(default)s)",
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pcc_provider", description="Pipecat Cloud build contexts and emulator"
    )
    parser.add_argument("--version", action="version", version=f"pcc-provider {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    hash_cmd = commands.add_parser("hash", help="print the contextHash a build of CONTEXT gets")
    _context_options(hash_cmd)
    hash_cmd.set_defaults(run=_hash)

    files_cmd = commands.add_parser("files", help="list the files a build of CONTEXT uploads")
    _context_options(files_cmd)
    files_cmd.set_defaults(run=_files)

    plugin_cmd = commands.add_parser(
        "plugin", help="write the pipecat provider plugin archive for `pulumi plugin install`"
    )
    plugin_cmd.add_argument("--out", default=".", help="the folder to write it in (default .)")
    plugin_cmd.set_defaults(run=_plugin)

    recover_cmd = commands.add_parser(
        "recover",
        help="claim on this machine what an interrupted `pulumi up` of the stack left "
        "(read from the stack's pending creates), for the next `pulumi up` to take up",
    )
    from pcc_provider import recovery

    recovery.arguments(recover_cmd)
    recover_cmd.set_defaults(run=_recover)

    emu = commands.add_parser("emulator", help="serve a local Pipecat Cloud on loopback")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=0, help="0 picks a free port")
    emu.add_argument("--state-dir", required=True, help="where builds, uploads and agents live")
    emu.add_argument("--api-key", default=os.environ.get("PIPECAT_API_KEY"))
    _emulator_settings(emu)
    emu.set_defaults(run=_emulator)

    args = parser.parse_args(argv)
    from pcc_provider.context import ContextError

    try:
        with stopped_by_signals():
            return int(args.run(args))
    except ContextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Stopped as stopped:
        print(f"stopped ({signal.Signals(stopped.signum).name})", file=sys.stderr)
        return 128 + stopped.signum


class Stopped(BaseException):  # not an Exception: no `except Exception` of a command takes it
    """A stop signal, raised in the main thread where the command runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Within: SIGINT and SIGTERM stop a command alike (Stopped), also when its parent
    started it with them ignored (`emulator` serves until either, as it says). The handlers
    before are restored after (main() may run inside another program, a test)."""

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may catch signals
        return
    before = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
