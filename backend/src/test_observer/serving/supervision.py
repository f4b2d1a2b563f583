"""How `serve` runs its processes so that none outlives it and none drops a request.

- The supervisor (uvicorn's, for several workers) closes its copy of the listening socket the
  moment it is asked to stop. The workers share that socket; while the supervisor kept it
  open after they had stopped accepting, the kernel went on completing connections nobody
  would accept, and reset them all when the supervisor exited.
- Each worker watches its supervisor and stops (gracefully, as on SIGTERM) when it is gone,
  however it went: a supervisor killed with SIGKILL no longer leaves workers answering on the
  port.
- A connection the server accepted just before it was asked to stop, whose first request had
  not arrived whole yet, is given a moment to send it and is answered (then closed), instead
  of being closed under the client, which saw that as a reset.
- A watchdog process stops the embedded development database once `serve` is gone and no
  other process uses it, so a killed `serve` leaves no PostgreSQL behind either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from socket import socket
from types import FrameType

from uvicorn import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

# Set by `serve` for the processes it starts: the process id of the supervisor.
SUPERVISOR_ENV = "TEST_OBSERVER_SUPERVISOR_PID"
# How often a worker and the watchdog look at whether their supervisor is still there.
POLL_S = 0.25
# Classic BPF: "return 0", i.e. keep no byte of the packet (drop it); and the socket option.
BPF_RET_K = 0x06
SO_ATTACH_FILTER = 26
SOL_SOCKET = 1
# How long the workers get to accept the connections already queued when a stop is asked.
QUEUE_DRAIN_S = 0.1
# How long a connection accepted before the stop may take to deliver its first request.
FIRST_REQUEST_GRACE_S = 1.0


class DrainingHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, which does not close a new connection under its client.

    On a graceful stop uvicorn closes every connection with no request in progress. One whose
    first request has not reached the end of its headers yet looks idle, but its client has
    sent, or is sending, a request it will see answered by a reset.
    """

    _draining = False

    def shutdown(self) -> None:
        if self.cycle is not None:
            super().shutdown()
            return
        self._draining = True
        self.loop.call_later(FIRST_REQUEST_GRACE_S, self._close_if_still_waiting)

    def _close_if_still_waiting(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            # Answered with "Connection: close", then closed.
            self.cycle.keep_alive = False


class Supervisor(Multiprocess):
    """uvicorn's multi-process supervisor, which stops listening before its workers drain."""

    def __init__(self, config: Config, sockets: list[socket]) -> None:
        super().__init__(config, sockets)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)

    def _stop(self, signum: int, _: FrameType | None) -> None:
        # The kernel completes connections for a listening socket by itself, and resets those
        # still queued when the socket closes. So: no new connection from now on (their SYNs
        # are dropped; clients retry and are refused once the socket is gone), a moment for
        # the workers to take the ones already queued, and only then the stop.
        for sock in self.sockets:
            _refuse_new_connections(sock)
        time.sleep(QUEUE_DRAIN_S)
        # Only the workers' copies keep the socket listening now: it closes with the last of
        # them, as it does with a single process, instead of when this process exits.
        for sock in self.sockets:
            sock.close()
        self.signal_queue.append(signum)


def _refuse_new_connections(sock: socket) -> None:
    """Attach a socket filter that drops every packet to the listening socket (Linux).

    It acts on the socket itself, so in every process sharing it. Without it (elsewhere than
    Linux), connections queued at the last close are reset, as uvicorn does alone.
    """
    drop_all = ctypes.create_string_buffer(struct.pack("HBBI", BPF_RET_K, 0, 0, 0))
    program = struct.pack("HxxxxxxQ", 1, ctypes.addressof(drop_all))
    with contextlib.suppress(OSError):
        sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, program)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def leave_with_supervisor() -> None:
    """In a worker process of `serve`: stop gracefully once the supervisor is gone."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or int(supervisor) == os.getpid():
        return
    pid = int(supervisor)

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(POLL_S)
        # Re-parented: the supervisor died without stopping us. SIGTERM is uvicorn's graceful
        # stop: requests in flight finish, then the process exits.
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def start_database_watchdog(data_dir: Path) -> subprocess.Popen[bytes]:
    """Start a process that stops the embedded database in `data_dir` when this one is gone.

    It runs in a session of its own, so that a Ctrl-C meant for `serve` does not reach it: it
    leaves by itself once `serve` has.
    """
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "test_observer.serving.supervision",
            str(os.getpid()),
            str(data_dir),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def watch_database(supervisor: int, data_dir: Path) -> None:
    """Wait for `supervisor` to end, then stop the embedded database if nobody else uses it.

    A `serve` that exits normally has stopped it already; one that was killed has not.
    """
    from test_observer.db import embedded

    while _alive(supervisor):
        time.sleep(POLL_S)
    status = embedded.status(data_dir)
    if status.server_pid is not None and not status.users:
        embedded.stop(data_dir)


if __name__ == "__main__":
    watch_database(int(sys.argv[1]), Path(sys.argv[2]))
