"""Copy a database of the original Test Observer into an empty one of ours.

Every table is streamed with COPY from one consistent snapshot of the source into one
transaction on the target: the target ends up with all of it or, on any failure, with
nothing. Ids are kept, so bookmarked links and the execution ids CI scripts hold keep working.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.engine import make_url

from test_observer.db import migrate

from .tables import ORIGINAL_REVISION, SOURCE_ONLY_COLUMNS, TABLES, TableCopy


class ImportRefusedError(Exception):
    """The import cannot start; the message says why in one line."""


@dataclass
class TableResult:
    table: str
    source_rows: int
    imported_rows: int = 0
    merge_description: str | None = None

    @property
    def merged_rows(self) -> int:
        return self.source_rows - self.imported_rows


@dataclass
class ImportReport:
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)

    @property
    def merges(self) -> list[TableResult]:
        return [table for table in self.tables if table.merged_rows]


@dataclass(frozen=True)
class _Statement:
    copy: TableCopy
    columns: list[str]
    select: sql.Composed


_BATCH_BYTES = 1 << 20

# Called with (table, rows expected) when a table starts, then with rows copied so far.
TableStarted = Callable[[str, int], None]
RowsCopied = Callable[[str, int], None]


def libpq_url(url: str) -> str:
    """A URL psycopg accepts, from any SQLAlchemy spelling (postgresql+psycopg://...)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ImportRefusedError("The source URL is not a PostgreSQL URL") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ImportRefusedError("The source URL is not a PostgreSQL URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[SslMode, ...] = (
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
)


def _is_local(host: str | None) -> bool:
    """No host (a Unix socket), `localhost` or a loopback address."""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def source_ssl_options(url: str, sslmode: SslMode | None) -> dict[str, str]:
    """The TLS settings to read the source with. `sslmode` when given; else the URL's own
    `sslmode`; else `verify-full` for a remote host (encrypted, and only to the server its
    certificate names, checked against the system's certificate authorities unless the URL
    names `sslrootcert`) and libpq's `prefer` for a local one."""
    parsed = make_url(libpq_url(url))
    if sslmode is None:
        if "sslmode" in parsed.query:
            return {}
        hosts = parsed.host.split(",") if parsed.host else [str(parsed.query.get("host") or "")]
        sslmode = "prefer" if all(_is_local(host) for host in hosts) else "verify-full"
    options: dict[str, str] = {"sslmode": sslmode}
    if sslmode in ("verify-ca", "verify-full") and "sslrootcert" not in parsed.query:
        options["sslrootcert"] = "system"
    return options


def import_original(
    source_url: str,
    target_url: str,
    *,
    sslmode: SslMode | None = None,
    dry_run: bool = False,
    table_started: TableStarted | None = None,
    rows_copied: RowsCopied | None = None,
) -> ImportReport:
    with (
        _connect(source_url, "source", **source_ssl_options(source_url, sslmode)) as source,
        _connect(target_url, "target") as target,
    ):
        # One snapshot of the source, however long the copy takes.
        source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        _check_source_revision(source)
        _check_target(target, target_url)
        statements = [_statement(copy, source, target) for copy in TABLES]
        # Larger sorts for the index builds; a crash before the commit loses nothing but
        # the import itself, which can be run again.
        target.execute("SET LOCAL maintenance_work_mem = '256MB'")
        target.execute("SET LOCAL synchronous_commit = off")
        report = ImportReport(dry_run=dry_run)
        for statement in statements:
            table = statement.copy.table
            result = TableResult(
                table,
                source_rows=_count(
                    source, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ),
                merge_description=statement.copy.merge.description
                if statement.copy.merge
                else None,
            )
            report.tables.append(result)
            if dry_run:
                result.imported_rows = _count(
                    source,
                    sql.SQL("SELECT count(*) FROM ({}) AS rows").format(statement.select),
                )
                continue
            if table_started:
                table_started(table, result.source_rows)
            result.imported_rows = _copy(source, target, statement, rows_copied)
        if dry_run:
            target.rollback()
            return report
        _count_results_per_execution(target)
        _link_teams_created_at_sign_in(target)
        _move_sequences(target)
        _check_counts(target, report)
        target.commit()
    return report


def _connect(url: str, role: str, **options: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(make_conninfo(libpq_url(url), connect_timeout=10, **options))
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImportRefusedError(f"Cannot read the {role} database: {reason}") from None


def _check_source_revision(source: psycopg.Connection[tuple[object, ...]]) -> None:
    try:
        rows = source.execute("SELECT version_num FROM alembic_version").fetchall()
    except psycopg.errors.UndefinedTable:
        raise ImportRefusedError(
            "The source database has no alembic_version table: it is not a Test Observer database"
        ) from None
    except psycopg.Error as error:
        raise ImportRefusedError(f"Cannot read the source database: {error}") from None
    revisions = sorted(str(row[0]) for row in rows)
    if revisions != [ORIGINAL_REVISION]:
        found = ", ".join(revisions) or "none"
        raise ImportRefusedError(
            f"The source database is at revision {found}; the import reads the original's "
            f"revision {ORIGINAL_REVISION}: upgrade the original to its newest release first"
        )


def _check_target(target: psycopg.Connection[tuple[object, ...]], target_url: str) -> None:
    current = sorted(migrate.current(target_url))
    if current != sorted(migrate.heads()):
        raise ImportRefusedError(
            f"The target database is at revision {', '.join(current) or 'none'}, not "
            f"{', '.join(migrate.heads())}: run `test-observer db upgrade` first"
        )
    checks = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} WHERE EXISTS (SELECT FROM {})").format(
            sql.Literal(copy.table), sql.Identifier(copy.table)
        )
        for copy in TABLES
    )
    filled = [str(row[0]) for row in target.execute(checks).fetchall()]
    if filled:
        raise ImportRefusedError(
            f"The target database is not empty (rows in {', '.join(filled)}): "
            "import into a new database"
        )


def _columns(
    connection: psycopg.Connection[tuple[object, ...]], table: str
) -> dict[str, tuple[bool, bool]]:
    """Column name → (nullable, has a default), in table order."""
    rows = connection.execute(
        """
        SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = %s
        ORDER BY ordinal_position
        """,
        (table,),
    ).fetchall()
    return {str(name): (bool(nullable), bool(default)) for name, nullable, default in rows}


def _statement(
    copy: TableCopy,
    source: psycopg.Connection[tuple[object, ...]],
    target: psycopg.Connection[tuple[object, ...]],
) -> _Statement:
    """The SELECT that reads one table of the source in the target's column order."""
    source_columns = _columns(source, copy.table)
    target_columns = _columns(target, copy.table)
    if not source_columns:
        raise ImportRefusedError(f"The source database has no table {copy.table}")
    computed = dict(copy.computed)
    unplaced = (
        set(source_columns) - set(target_columns) - SOURCE_ONLY_COLUMNS.get(copy.table, set())
    )
    if unplaced:
        raise ImportRefusedError(
            f"The source column {copy.table}.{sorted(unplaced)[0]} has no place in this database"
        )
    columns: list[str] = []
    expressions: list[sql.Composable] = []
    for name, (nullable, has_default) in target_columns.items():
        if name in computed:
            expressions.append(sql.SQL(computed[name]))
        elif name in source_columns:
            expressions.append(sql.Identifier(name))
        elif nullable or has_default:
            continue
        else:
            raise ImportRefusedError(
                f"The import cannot fill the column {copy.table}.{name}: "
                "this release of the import does not match the schema"
            )
        columns.append(name)
    select_list = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(expression, sql.Identifier(name))
        for expression, name in zip(expressions, columns, strict=True)
    )
    relation = sql.SQL(copy.source) if copy.source else sql.Identifier(copy.table)
    if copy.merge is None or not copy.merge.distinct_on:
        select = sql.SQL("SELECT {} FROM {} AS s").format(select_list, relation)
    else:
        keys = sql.SQL(", ").join(sql.Identifier(key) for key in copy.merge.distinct_on)
        select = sql.SQL(
            "SELECT DISTINCT ON ({keys}) {columns} FROM {relation} AS s ORDER BY {keys}, {keep}"
        ).format(keys=keys, columns=select_list, relation=relation, keep=sql.SQL(copy.merge.keep))
    return _Statement(copy, columns, select)


def _count(connection: psycopg.Connection[tuple[object, ...]], query: sql.Composed) -> int:
    row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def _copy(
    source: psycopg.Connection[tuple[object, ...]],
    target: psycopg.Connection[tuple[object, ...]],
    statement: _Statement,
    rows_copied: RowsCopied | None,
) -> int:
    table = statement.copy.table
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in statement.columns)
    copied = 0
    restore = _drop_secondary_structures(target, table)
    target_cursor = target.cursor()
    with (
        source.cursor().copy(sql.SQL("COPY ({}) TO STDOUT").format(statement.select)) as reader,
        target_cursor.copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), columns),
            # Writes from a thread of their own, so that the target stores one batch while
            # the source reads the next.
            writer=QueuedLibpqWriter(target_cursor),
        ) as writer,
    ):
        # The source hands over one row at a time: pass rows on in large batches, so the
        # per-call cost is paid per megabyte, not per row.
        batch = bytearray()
        for chunk in reader:
            batch += chunk
            if len(batch) >= _BATCH_BYTES:
                copied += _write(writer, batch)
                if rows_copied:
                    rows_copied(table, copied)
        copied += _write(writer, batch)
        if rows_copied:
            rows_copied(table, copied)
    for statement_text in restore:
        target.execute(statement_text)
    return copied


def _write(writer: psycopg.Copy, batch: bytearray) -> int:
    """Write and empty the batch; return its rows (text COPY escapes newlines in values)."""
    rows = batch.count(b"\n")
    writer.write(bytes(batch))
    batch.clear()
    return rows


def _drop_secondary_structures(
    target: psycopg.Connection[tuple[object, ...]], table: str
) -> list[str]:
    """Drop the table's indexes and constraints other than its primary key; return what
    re-creates them, indexes and unique constraints before foreign keys.

    Building an index once and checking a constraint with one scan after the copy is many
    times faster than maintaining them row by row. A duplicate the merges did not foresee
    still fails the import, when its unique constraint is re-created. All of it happens inside
    the import's transaction, so a failed import leaves the schema as it was. Indexes that
    another table's foreign key relies on (primary keys) stay.
    """
    rows = target.execute(
        """
        SELECT 2 AS step,
               format('ALTER TABLE %%I DROP CONSTRAINT %%I', %(table)s::text, conname),
               format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', %(table)s::text, conname,
                      pg_get_constraintdef(oid))
        FROM pg_constraint
        WHERE conrelid = %(table)s::regclass AND contype = 'f'
        UNION ALL
        SELECT 1, format('ALTER TABLE %%I DROP CONSTRAINT %%I', %(table)s::text, u.conname),
               format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', %(table)s::text, u.conname,
                      pg_get_constraintdef(u.oid))
        FROM pg_constraint u
        WHERE u.conrelid = %(table)s::regclass AND u.contype = 'u'
          AND NOT EXISTS (
              SELECT FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = u.conindid
          )
        UNION ALL
        SELECT 0, format('DROP INDEX %%I', c.relname), pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %(table)s::regclass AND NOT i.indisprimary
          AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        ORDER BY 1 DESC
        """,
        {"table": table},
    ).fetchall()
    for _, drop, _ in rows:
        target.execute(str(drop))
    return [str(create) for _, _, create in reversed(rows)]


def _count_results_per_execution(target: psycopg.Connection[tuple[object, ...]]) -> None:
    """The executions' counts of results per status, which the original does not keep."""
    target.execute(
        """
        UPDATE test_execution AS te
        SET passed_count = c.passed, failed_count = c.failed, skipped_count = c.skipped
        FROM (
            SELECT test_execution_id,
                   count(*) FILTER (WHERE status = 'PASSED') AS passed,
                   count(*) FILTER (WHERE status = 'FAILED') AS failed,
                   count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
            FROM test_result
            GROUP BY test_execution_id
        ) AS c
        WHERE c.test_execution_id = te.id
        """
    )


def _link_teams_created_at_sign_in(target: psycopg.Connection[tuple[object, ...]]) -> None:
    """The original made a team of each Launchpad team name at sign-in; here only teams linked
    to a Launchpad team follow it. Imported teams are linked by the rule of migration 0016:
    those that grant nothing, and those created with one of their members or their sessions."""
    target.execute(
        """
        UPDATE team SET launchpad_team = team.name
        WHERE (
            cardinality(team.permissions) = 0
            AND NOT EXISTS (
                SELECT 1 FROM artefact_matching_rule_team_association rules
                WHERE rules.team_id = team.id
            )
        ) OR EXISTS (
            SELECT 1 FROM team_users_association members
            JOIN app_user ON app_user.id = members.user_id
            WHERE members.team_id = team.id
              AND (
                app_user.created_at = team.created_at
                OR EXISTS (
                    SELECT 1 FROM user_session
                    WHERE user_session.user_id = app_user.id
                      AND user_session.created_at = team.created_at
                )
              )
        )
        """
    )


def _move_sequences(target: psycopg.Connection[tuple[object, ...]]) -> None:
    """Past the highest imported id, so the next row created through the API gets a new one."""
    sequences = target.execute(
        """
        SELECT table_name, pg_get_serial_sequence(quote_ident(table_name), 'id')
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND column_name = 'id'
          AND table_name = ANY(%s)
        """,
        ([copy.table for copy in TABLES],),
    ).fetchall()
    for table, sequence in sequences:
        if sequence is None:
            continue
        target.execute(
            sql.SQL(
                "SELECT setval({sequence}, coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
            ).format(sequence=sql.Literal(sequence), table=sql.Identifier(str(table)))
        )


def _check_counts(target: psycopg.Connection[tuple[object, ...]], report: ImportReport) -> None:
    for result in report.tables:
        stored = _count(
            target, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(result.table))
        )
        if stored != result.imported_rows:
            raise RuntimeError(
                f"{result.table}: {result.imported_rows} rows copied but {stored} stored"
            )
