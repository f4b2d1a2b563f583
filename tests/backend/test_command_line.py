"""Commands run inside the test process (`tests.backend.command_line`) leave nothing behind."""

from __future__ import annotations

import json
import logging
import os
import signal
from typing import Any

import typer
from sqlalchemy import Engine, create_engine, text

from tests.backend.command_line import run_command

PROBE = "command-line-leak-probe"
_kept: list[Any] = []


def logging_state() -> dict[str, tuple[int, list[logging.Handler], bool, bool]]:
    loggers = {
        name: logger
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    loggers[""] = logging.root
    return {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in loggers.items()
    }


def probe_connections(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": PROBE},
            )
            or 0
        )


def connections(engine: Engine) -> int:
    """Sessions open on the test database."""
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            )
            or 0
        )


def untidy_app(database_url: str) -> typer.Typer:
    """A command that leaves behind everything a process would have taken with it."""
    app = typer.Typer()

    @app.command()
    def untidy() -> None:
        os.environ["COMMAND_LINE_PROBE"] = "left"
        os.environ.pop("HOME", None)
        logging.getLogger().addHandler(logging.StreamHandler())
        logging.getLogger().setLevel(logging.DEBUG)
        logging.getLogger("test_observer").disabled = True
        logging.getLogger("command_line.new").setLevel(logging.ERROR)
        logging.disable(logging.WARNING)
        signal.signal(signal.SIGTERM, lambda *_: None)
        # One connection kept checked out, one returned to a pool nobody disposes.
        held = create_engine(database_url, connect_args={"application_name": PROBE})
        _kept.append(held.connect())
        pooled = create_engine(database_url, connect_args={"application_name": PROBE})
        with pooled.connect() as connection:
            connection.execute(text("SELECT 1"))
        _kept.append(pooled)
        typer.echo("done")

    @app.command()
    def other() -> None:
        """Two commands, so that `untidy` is invoked by name."""

    return app


def test_what_a_command_leaves_behind_is_put_back(database_url: str, engine: Engine) -> None:
    environment = dict(os.environ)
    loggers = logging_state()
    disabled_below = logging.root.manager.disable
    on_term = signal.getsignal(signal.SIGTERM)

    result = run_command("untidy", app=untidy_app(database_url))

    assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr
    assert dict(os.environ) == environment
    after = logging_state()
    assert {name: after[name] for name in loggers} == loggers
    assert after["command_line.new"] == (logging.NOTSET, [], True, False)
    assert logging.root.manager.disable == disabled_below
    assert signal.getsignal(signal.SIGTERM) == on_term
    assert probe_connections(engine) == 0


def test_a_real_command_that_configures_logging_and_the_environment(
    database_url: str, engine: Engine
) -> None:
    """`jobs run` sets DB_URL for the job and configures logging with `dictConfig`."""
    environment = dict(os.environ)
    loggers = logging_state()
    connected = connections(engine)

    result = run_command("jobs", "run", "clean-sessions", env={"DB_URL": database_url})

    assert result.returncode == 0, result.stderr
    assert "deleted" in json.loads(result.stdout)
    assert '"job": "clean-sessions"' in result.stderr  # the job's log line reached stderr
    assert dict(os.environ) == environment
    after = logging_state()
    assert {name: after[name] for name in loggers} == loggers
    assert connections(engine) <= connected


def test_an_unhandled_exception_exits_1_with_its_traceback() -> None:
    app = typer.Typer()

    @app.command()
    def broken() -> None:
        raise RuntimeError("boom")

    @app.command()
    def other() -> None:
        """Two commands, so that `broken` is invoked by name."""

    result = run_command("broken", app=app)

    assert result.returncode == 1
    assert "RuntimeError: boom" in result.stderr
