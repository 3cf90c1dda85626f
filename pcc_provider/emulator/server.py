"""Serving the emulator with waitress: in a thread (`Emulator`) or until a signal (`serve`).

`serve` runs in the foreground until SIGINT/SIGTERM, behind `python -m pcc_provider emulator`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

import waitress

from pcc_provider.emulator.app import EmulatorApp
from pcc_provider.emulator.backend import Backend, Clock
from pcc_provider.emulator.settings import Settings
from pcc_provider.emulator.storage import MAX_FORM_FIELDS_BYTES

# waitress warns "Task queue depth is N" whenever its threads are all busy: on a loaded
# machine that is every test run, and nothing a user could act on. Real warnings stay.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class Emulator:
    """A Pipecat Cloud emulator on loopback.

    with Emulator(state_dir, api_key="k", build_seconds=0.5) as emu:
        emu.api_url  # "http://127.0.0.1:PORT/v1"
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        clock: Clock | None = None,
        **settings: Any,
    ) -> None:
        """`settings`: any field of `Settings` (build_seconds=0.5, ...); the rest keep their
        defaults. `clock`: the service's time, which a test may pass to emulators it starts
        one after another on a state folder, so that time advanced by one holds for the next
        (it is not saved)."""
        self.host = host
        self.port = port
        self.threads = threads
        # The live settings (settings.py): the control endpoint changes this very object.
        self.config = Settings(**settings)
        # Takes the state folder, which is this emulator's until stop(): a second emulator
        # on it is refused (StateFolderInUse), as is an unreadable identity (persistence.py).
        self.store = Backend(state_dir, self.config, clock)
        try:
            self.app = EmulatorApp(self.store, api_key)
        except BaseException:
            self.store.close()
            raise
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self.app.base_url

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self.store.open()  # after a stop(): the folder again, as it is now
        try:
            server = waitress.create_server(
                self.app,
                host=self.host,
                port=self.port,
                threads=self.threads,
                max_request_body_size=self._body_limit(),
                # Test suites open many short-lived sessions; poll() is not bound by
                # FD_SETSIZE.
                connection_limit=1000,
                asyncore_use_poll=True,
                channel_timeout=60,
                ident="pcc-emulator",
                expose_tracebacks=False,
            )
        except BaseException:
            self.store.close()
            raise
        host = str(server.effective_host)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.app.base_url = f"http://{host}:{server.effective_port}"
        self._server = server
        self.app.on_config = self._follow_upload_limit
        self._thread = threading.Thread(target=server.run, name="pcc-emulator", daemon=True)
        self._thread.start()
        return self

    def _body_limit(self) -> int:
        """waitress reads a whole request body, spooling it to a temporary file, before the
        app sees it: its limit is the largest upload plus its form fields, so a larger
        Content-Length is refused (413) before a byte of the body is read, and a chunked
        body is cut there. The app refuses what lies between, as S3 does."""
        return self.config.max_upload_bytes + MAX_FORM_FIELDS_BYTES + 1

    def _follow_upload_limit(self) -> None:
        if self._server is not None:  # read by waitress for each request
            self._server.adj.max_request_body_size = self._body_limit()

    def stop(self) -> None:
        """Stop serving and let go of the state folder; start() takes both up again."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            self.store.close()
            return
        # Requests held or delayed by a fault end now, rather than keep a worker (and the
        # process, which waits for them) for the rest of their wait. The workers finish what
        # they are answering, and new requests are dropped, before the sockets close: a worker
        # that answers after that would find the loop's wake-up pipe closed.
        self.app.faults.release()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

        def close_everything() -> None:
            # Runs on the server's own loop thread; with no sockets left, the loop returns.
            for channel in list(server._map.values()):
                channel.close()

        try:
            server.trigger.pull_trigger(close_everything)
        except OSError:
            # The loop's wake-up pipe is already closed, so it cannot be asked to close
            # the sockets: close them from here; the loop notices within its poll timeout.
            close_everything()
        thread.join(timeout=10)
        self._server = None
        self._thread = None
        self.store.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: str | os.PathLike[str],
    api_key: str,
    **settings: Any,
) -> None:
    """Run until SIGINT or SIGTERM. The first line on stdout says where (tests parse it)."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator = Emulator(state_dir, api_key=api_key, host=host, port=port, **settings)
    try:
        emulator.start()
        print(
            f"Pipecat Cloud emulator listening on {emulator.url} (API: {emulator.api_url})",
            flush=True,
        )
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
