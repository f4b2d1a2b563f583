"""With TLS on, the database URL the charm renders verifies a real PostgreSQL server.

A throwaway PostgreSQL cluster is started on its own port with TLS on and a certificate
signed by a CA made in the test; it accepts only TLS connections. The charm is driven with
ops.testing as if postgresql-k8s had sent that CA in `secret-tls`; the command it renders is
then run for real with the CA file the charm wrote.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from ops import testing
from psycopg import sql
from test_observer_charm.migrations import SchemaReport

from tests.charm.states import SETTINGS_OK, cli, make_context, schema_json, sessions_secret

from .charm_workload import cli_path, free_port, run

USER = "charm_tls"
PASSWORD = "tls-p@ss/word"


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_pem: str
    other_ca: Path


def _server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the distribution's postgres user runs it then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip


def _make_server_certificate(directory: Path) -> None:
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr",
        cwd=directory,
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.pem",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql")
    if shutil.which("openssl") is None:
        pytest.skip("no openssl binary to make the test's certificates")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("no runuser binary to start PostgreSQL as a non-root user")
    work = Path(tempfile.mkdtemp(prefix="test-observer-tls-"))
    work.chmod(0o755)
    try:
        _make_ca(work, "ca")
        _make_ca(work, "other-ca")
        _make_server_certificate(work)
        data = work / "data"
        port = free_port()
        if os.geteuid() == 0:
            shutil.chown(work, "postgres")
            for name in ("server.key", "server.pem"):
                shutil.chown(work / name, "postgres")
        (work / "server.key").chmod(0o600)
        subprocess.run(
            _as_postgres(
                [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{work}'\nssl = on\n"
                f"ssl_cert_file = '{work / 'server.pem'}'\nssl_key_file = '{work / 'server.key'}'\n"
            )
        # TCP clients must use TLS; the test administers the server over its Unix socket.
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
        )
        subprocess.run(
            _as_postgres(
                [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(work / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        try:
            with psycopg.connect(
                host=str(work), port=port, user="postgres", dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(USER), sql.Literal(PASSWORD)
                    )
                )
                conn.execute(
                    sql.SQL("CREATE DATABASE test_observer OWNER {}").format(sql.Identifier(USER))
                )
            yield TlsServer(port, (work / "ca.pem").read_text(), work / "other-ca.pem")
        finally:
            subprocess.run(
                _as_postgres(
                    [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                timeout=120,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _charm_state(server: TlsServer, mount_dir: Path, endpoint: str) -> testing.State:
    credentials = testing.Secret({"username": USER, "password": PASSWORD})
    tls = testing.Secret({"tls": "True", "tls-ca": server.ca_pem})
    relation = testing.Relation(
        "database",
        remote_app_name="postgresql-k8s",
        remote_app_data={
            "endpoints": endpoint,
            "database": "test_observer",
            "secret-user": credentials.id,
            "secret-tls": tls.id,
        },
    )
    session = sessions_secret()
    container = testing.Container(
        "api",
        can_connect=True,
        mounts={"etc": testing.Mount(location="/etc/test-observer", source=mount_dir)},
        execs={
            cli("db", "current", "--json", stdout=schema_json("base")),
            cli("db", "upgrade", "--json", stdout=schema_json("base")),
            cli("settings", "check", "--json", stdout=SETTINGS_OK),
        },
    )
    return testing.State(
        leader=True,
        relations={
            relation,
            testing.PeerRelation(
                "test-observer-peers", local_app_data={"sessions-secret-id": session.id}
            ),
        },
        secrets={credentials, tls, session},
        containers={container},
    )


def _rendered_upgrade(server: TlsServer, tmp_path: Path, endpoint: str) -> tuple[list[str], str]:
    ctx = make_context()
    ctx.run(ctx.on.config_changed(), _charm_state(server, tmp_path, endpoint))
    ((command, env),) = [
        (list(e.command), dict(e.environment))
        for e in ctx.exec_history["api"]
        if list(e.command)[1:3] == ["db", "upgrade"]
    ]
    return command, env["DB_URL"]


def _with_ca(db_url: str, ca_path: Path) -> str:
    """The rendered URL with the container's CA path mapped to where the test keeps it."""
    assert "sslrootcert=/etc/test-observer/database-ca.pem" in db_url
    return db_url.replace("/etc/test-observer/database-ca.pem", str(ca_path))


def test_the_rendered_url_verifies_the_server_with_the_ca_the_charm_wrote(tls_server, tmp_path):
    command, db_url = _rendered_upgrade(tls_server, tmp_path, f"localhost:{tls_server.port}")

    query = parse_qs(urlsplit(db_url).query)
    assert query["sslmode"] == ["verify-full"]
    written = tmp_path / "database-ca.pem"
    assert written.read_text().strip() == tls_server.ca_pem.strip()

    migrated = run([cli_path(), *command[1:]], {"DB_URL": _with_ca(db_url, written)})

    assert migrated.returncode == 0, migrated.stderr
    report = SchemaReport.parse(migrated.stdout)
    assert report is not None
    assert report.at_head
    with psycopg.connect(_with_ca(db_url, written)) as conn:
        assert conn.info.pgconn.ssl_in_use


def test_a_server_certificate_from_another_ca_is_refused(tls_server, tmp_path):
    command, db_url = _rendered_upgrade(tls_server, tmp_path, f"localhost:{tls_server.port}")

    refused = run([cli_path(), *command[1:]], {"DB_URL": _with_ca(db_url, tls_server.other_ca)})

    assert refused.returncode == 1
    assert "certificate verify failed" in refused.stderr


def test_a_host_name_the_certificate_does_not_name_is_refused(tls_server, tmp_path):
    # The certificate names localhost only: verify-full checks the host as well as the CA.
    command, db_url = _rendered_upgrade(tls_server, tmp_path, f"127.0.0.1:{tls_server.port}")

    refused = run(
        [cli_path(), *command[1:]], {"DB_URL": _with_ca(db_url, tmp_path / "database-ca.pem")}
    )

    assert refused.returncode == 1
    assert "does not match host name" in refused.stderr
