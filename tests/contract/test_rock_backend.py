"""What the rock's part installs really runs: the service command serves, the migrations ship.

The rock cannot be packed on every machine, so these tests reproduce its build step: the uv
plugin's `uv sync --no-dev --no-editable` from the backend member, into a fresh virtualenv
made with Python 3.12 (the rock's interpreter) when the host has it. A wheel built from
`backend/` must likewise carry the migrations and migrate a real database from a clean venv.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.contract.rock_layer import REPO_ROOT, rock_command, rock_layer
from tests.contract.rock_tooling import (
    clean_env,
    copy_source_tree,
    git_files,
    private_tmp,
    python_for_rock,
    uv_binary,
)
from tests.database import scratch_database

MIGRATIONS = "test_observer/db/migrations"

# Help output is read by eye and by the assertions below; keep rich from wrapping it.
HELP_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", clean_env())
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        argv, capture_output=True, text=True, timeout=600, check=False, **kwargs
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{shlex.join(result.args)}\n{result.stdout}\n{result.stderr}"
    return result


def installed_distributions(python: Path) -> dict[str, dict[str, str]]:
    """name → {version, location, direct_url} for every distribution of an interpreter."""
    script = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    out[d.metadata['Name'].lower().replace('_', '-')] = {\n"
        "        'version': d.version,\n"
        "        'location': str(d.locate_file('')),\n"
        "        'direct_url': d.read_text('direct_url.json') or '',\n"
        "    }\n"
        "print(json.dumps(out))\n"
    )
    installed: dict[str, dict[str, str]] = json.loads(ok(run([str(python), "-c", script])).stdout)
    return installed


@pytest.fixture
def work_dir() -> Iterator[Path]:
    with private_tmp("rock") as path:
        yield path


@pytest.fixture(scope="module")
def rock_venv() -> Iterator[Path]:
    """A virtualenv populated the way the rock's uv part populates its install directory."""
    with private_tmp("rock-build") as base:
        yield _build_like_the_rock(base)


def _build_like_the_rock(base: Path) -> Path:
    uv = uv_binary()
    source = copy_source_tree(REPO_ROOT, base / "src")
    venv = base / "venv"
    interpreter = python_for_rock()
    ok(run([uv, "venv", "--quiet", "--python", interpreter, str(venv)]))
    env = clean_env(
        UV_PROJECT_ENVIRONMENT=str(venv),
        VIRTUAL_ENV=str(venv),
        UV_FROZEN="true",
        UV_PYTHON=interpreter,
        UV_PYTHON_DOWNLOADS="never",
    )
    # The plugin's own command, run where `source-subdir` points.
    ok(
        run(
            [uv, "sync", "--no-dev", "--no-editable", "--reinstall"],
            cwd=source / "backend",
            env=env,
        )
    )
    return venv


def test_rock_install_holds_the_backend_and_only_its_runtime_dependencies(
    rock_venv: Path,
) -> None:
    installed = installed_distributions(rock_venv / "bin" / "python")
    assert "test-observer" in installed

    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    backend = tomllib.loads((REPO_ROOT / "backend" / "pyproject.toml").read_text())
    runtime = {_name(r) for r in backend["project"]["dependencies"]}
    development = {
        _name(r)
        for group in root["dependency-groups"].values()
        for r in group
        if isinstance(r, str)
    } - runtime
    assert development, "the workspace defines no development groups to exclude"
    leaked = sorted(development & set(installed))
    assert leaked == [], f"development dependencies in the rock: {leaked}"


def test_rock_install_is_a_real_copy_not_an_editable_link(rock_venv: Path) -> None:
    dist = installed_distributions(rock_venv / "bin" / "python")["test-observer"]
    direct_url = json.loads(dist["direct_url"] or "{}")
    assert not direct_url.get("dir_info", {}).get("editable", False)
    assert Path(dist["location"]).is_relative_to(rock_venv)


def _site_packages(venv: Path) -> Path:
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    return site


def test_migrations_ship_inside_the_installed_package(rock_venv: Path) -> None:
    migrations = _site_packages(rock_venv) / MIGRATIONS
    assert (migrations / "env.py").is_file()
    assert list((migrations / "versions").glob("*.py")), "no migration revisions installed"


def test_service_command_flags_are_ones_the_cli_accepts(rock_venv: Path) -> None:
    argv = rock_command()
    executable = rock_venv / "bin" / argv[0]
    assert executable.is_file(), f"{argv[0]} is not a console script of the installed backend"
    subcommand = next(a for a in argv[1:] if not a.startswith("-"))
    result = ok(run([str(executable), subcommand, "--help"], env=clean_env(**HELP_ENV)))
    for flag in (a for a in argv if a.startswith("--")):
        assert flag in result.stdout, f"`{argv[0]} {subcommand} --help` does not list {flag}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def migrated_database(rock_venv: Path, database_server: str) -> Iterator[str]:
    with scratch_database(database_server, "rock") as url:
        ok(
            run(
                [str(rock_venv / "bin" / "test-observer"), "db", "upgrade", "head"],
                env=clean_env(DB_URL=url),
            )
        )
        yield url


def test_service_command_serves_and_passes_the_rock_checks(
    rock_venv: Path, migrated_database: str, work_dir: Path
) -> None:
    # The command exactly as Pebble runs it, moved to a free port so parallel runs coexist.
    port = _free_port()
    argv = rock_command()
    argv[argv.index("--port") + 1] = str(port)
    argv[0] = str(rock_venv / "bin" / argv[0])
    checks = {
        name: _with_port(c.http["url"], port) for name, c in rock_layer().checks.items() if c.http
    }

    log = (work_dir / "serve.log").open("w+")
    process = subprocess.Popen(
        argv, cwd=work_dir, env=clean_env(DB_URL=migrated_database), stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        statuses: dict[str, int | None] = {}
        while time.monotonic() < deadline and process.poll() is None:
            statuses = {name: _status(url) for name, url in checks.items()}
            if all(code == 200 for code in statuses.values()):
                break
            time.sleep(0.5)
        log.seek(0)
        assert process.poll() is None, f"the service exited:\n{log.read()}"
        assert all(code == 200 for code in statuses.values()), f"{statuses}\n{log.read()}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def backend_wheel() -> Iterator[Path]:
    with private_tmp("wheel") as out:
        yield _build_wheel(out)


def _build_wheel(out: Path) -> Path:
    ok(
        run(
            [
                uv_binary(),
                "build",
                "--quiet",
                "--wheel",
                "--package",
                "test-observer",
                "--out-dir",
                str(out),
            ],
            cwd=REPO_ROOT,
        )
    )
    (wheel,) = out.glob("test_observer-*.whl")
    return wheel


def test_wheel_contains_every_migration_file(backend_wheel: Path) -> None:
    source_root = REPO_ROOT / "backend" / "src"
    shipped = {
        path.relative_to(source_root).as_posix()
        for path in git_files(REPO_ROOT)
        if path.is_relative_to(source_root / MIGRATIONS) and "__pycache__" not in path.parts
    }
    assert f"{MIGRATIONS}/env.py" in shipped
    assert any(name.startswith(f"{MIGRATIONS}/versions/") for name in shipped)
    with zipfile.ZipFile(backend_wheel) as wheel:
        missing = sorted(shipped - set(wheel.namelist()))
    assert missing == []


def test_wheel_ships_the_documentation_pages_files(backend_wheel: Path) -> None:
    # /docs and /redocs load these from the server itself, never from a CDN.
    from test_observer.system.docs_pages import ASSETS

    with zipfile.ZipFile(backend_wheel) as wheel:
        names = set(wheel.namelist())
    static = "test_observer/system/static"
    expected = {f"{static}/{relative}" for relative, _ in ASSETS.values()}
    expected |= {f"{static}/swagger-ui/LICENSE", f"{static}/swagger-ui/NOTICE"}
    expected |= {f"{static}/redoc/LICENSE"}
    assert expected - names == set()


def test_wheel_migrates_a_real_database_from_a_clean_virtualenv(
    backend_wheel: Path, work_dir: Path, database_server: str
) -> None:
    uv = uv_binary()
    venv = work_dir / "venv"
    ok(run([uv, "venv", "--quiet", "--python", python_for_rock(), str(venv)]))
    # Install against the locked versions, as the rock does, not whatever is newest today.
    constraints = work_dir / "constraints.txt"
    exported = ok(
        run(
            [
                uv,
                "export",
                "--frozen",
                "--package",
                "test-observer",
                "--no-dev",
                "--no-hashes",
                "--no-emit-workspace",
            ],
            cwd=REPO_ROOT,
        )
    )
    constraints.write_text(exported.stdout)
    ok(
        run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                "-c",
                str(constraints),
                str(backend_wheel),
            ]
        )
    )
    cli = str(venv / "bin" / "test-observer")

    with scratch_database(database_server, "wheel") as url:
        env = clean_env(DB_URL=url)
        ok(run([cli, "db", "upgrade", "head"], env=env, cwd=work_dir))
        heads = ok(run([cli, "db", "heads"], env=env, cwd=work_dir)).stdout.split()
        current = ok(run([cli, "db", "current"], env=env, cwd=work_dir)).stdout.strip()
        assert len(heads) == 1
        assert current == heads[0]

        engine = create_engine(make_url(url))
        try:
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                tables = conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.tables"
                        " WHERE table_schema = 'public'"
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert stored == heads[0]
        assert tables > 1, "the migrations created no tables"
