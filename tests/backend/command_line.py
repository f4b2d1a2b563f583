"""`test-observer` commands run inside the test process.

Starting `test-observer` as a process costs about a second of CPU before the command does
anything (the interpreter, then the package's imports). Tests whose subject is what a command
does (its output, exit status, messages, effect on the database) run it here instead, through
Click's test runner on the real `test_observer.cli.main` app: the same parsing, the same
command functions, the same exit codes. Tests whose subject is the process itself (serving,
workers, signals, crashes, the embedded database, two processes racing) still start one.

A command run here could leave state behind that a process would have taken with it when it
exited; `run_command` puts back what commands change:

- the environment (`jobs` commands set DB_URL for the job environment),
- logging: every logger's level, handlers, propagation and disabled flag (commands configure
  logging with `dictConfig`, which also disables the loggers it does not name),
- SIGINT, SIGTERM and SIGHUP handlers (a command on the embedded database installs them),
- the embedded database server the command module keeps,
- every database connection opened during the command: closed, and the pools they came from
  emptied, so that no connection outlives the command (one left open would keep the test
  database from being dropped at the end of the run).

The settings need nothing more: nothing caches them, every command reads them from the
environment when it runs.
"""

from __future__ import annotations

import logging
import os
import signal
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import typer
from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import Pool
from typer.testing import CliRunner

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Completed:
    """What a finished command left: the fields of `subprocess.CompletedProcess` tests read."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass
class _LoggerState:
    level: int
    handlers: list[logging.Handler]
    propagate: bool
    disabled: bool


@dataclass
class _Snapshot:
    environ: dict[str, str]
    loggers: dict[str, _LoggerState]
    root: _LoggerState
    disabled_below: int
    handlers: dict[int, Any]
    embedded_server: Any
    connections: list[Any] = field(default_factory=list)
    engines: list[Engine] = field(default_factory=list)


def _logger_state(logger: logging.Logger) -> _LoggerState:
    return _LoggerState(logger.level, list(logger.handlers), logger.propagate, logger.disabled)


def _restore_logger(logger: logging.Logger, state: _LoggerState) -> None:
    for handler in logger.handlers:
        if handler not in state.handlers:
            handler.close()
    logger.handlers[:] = state.handlers
    logger.setLevel(state.level)
    logger.propagate = state.propagate
    logger.disabled = state.disabled


_PRISTINE = _LoggerState(logging.NOTSET, [], True, False)


def _loggers() -> dict[str, logging.Logger]:
    return {
        name: logger
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }


@contextmanager
def isolated() -> Iterator[_Snapshot]:
    """Put back, when the block ends, the process-wide state a command may change."""
    from test_observer.cli import database

    snapshot = _Snapshot(
        environ=dict(os.environ),
        loggers={name: _logger_state(logger) for name, logger in _loggers().items()},
        root=_logger_state(logging.root),
        disabled_below=logging.root.manager.disable,
        handlers={sig: signal.getsignal(sig) for sig in _SIGNALS},
        embedded_server=database.embedded_server(),
    )

    def opened(dbapi_connection: Any, _: object) -> None:
        snapshot.connections.append(dbapi_connection)

    def used(connection: Connection) -> None:
        if connection.engine not in snapshot.engines:
            snapshot.engines.append(connection.engine)

    event.listen(Pool, "connect", opened)
    event.listen(Engine, "engine_connect", used)
    try:
        yield snapshot
    finally:
        event.remove(Pool, "connect", opened)
        event.remove(Engine, "engine_connect", used)
        for engine in snapshot.engines:
            engine.dispose()
        for connection in snapshot.connections:
            if not connection.closed:
                connection.close()
        os.environ.clear()
        os.environ.update(snapshot.environ)
        for name, logger in _loggers().items():
            _restore_logger(logger, snapshot.loggers.get(name, _PRISTINE))
        _restore_logger(logging.root, snapshot.root)
        logging.disable(snapshot.disabled_below)
        for sig, handler in snapshot.handlers.items():
            signal.signal(sig, handler)
        database._embedded_server = snapshot.embedded_server


def run_command(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    inherit_env: bool = True,
    app: typer.Typer | None = None,
) -> Completed:
    """Run `test-observer *args` here, with `env` over the environment (None unsets a
    variable; without `inherit_env`, `env` is the whole environment) for the duration of the
    command, stdout and stderr kept apart.

    As from a process: usage errors exit with 2 and explain themselves on stderr, and an
    exception the command does not handle exits with 1 and prints its traceback on stderr.
    """
    if app is None:
        from test_observer.cli.main import app

    with isolated():
        if not inherit_env:
            os.environ.clear()
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        result = CliRunner().invoke(app, list(args), prog_name="test-observer", color=False)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Completed(list(args), result.exit_code, result.stdout, stderr)
