"""The `import-original` action: copy a database of the original Test Observer into the
related, migrated and empty database.

The source URL carries a password, so the operator hands it over as a Juju secret and the
charm passes it to the workload in the environment, never on a command line or in the
action's results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import ops

SECRET_URL_KEY = "url"
# A large deployment's import runs for minutes; the action waits for it.
IMPORT_TIMEOUT = 3600.0


@dataclass(frozen=True)
class ImportOriginalParams:
    source_url: str
    dry_run: bool = False


def source_url(model: ops.Model, secret_id: str) -> str:
    """The URL from the secret, or ValueError with what the operator should fix."""
    try:
        content = model.get_secret(id=secret_id).get_content(refresh=True)
    except (ops.SecretNotFoundError, ops.ModelError):
        raise ValueError(
            f"cannot read secret {secret_id}: create it with `juju add-secret` and "
            f"`juju grant-secret` it to this application"
        ) from None
    url = content.get(SECRET_URL_KEY, "").strip()
    if not url:
        raise ValueError(f"secret {secret_id} has no '{SECRET_URL_KEY}' key")
    return url


def command(params: ImportOriginalParams) -> list[str]:
    args = ["import-original", "--json"]
    if params.dry_run:
        args.append("--dry-run")
    return args


def results(output: str) -> dict[str, object]:
    """Action results from the command's JSON report: totals and the tables with merges."""
    report = json.loads(output)
    tables = report["tables"]
    merged = {table["table"]: table["merged-rows"] for table in tables if table["merged-rows"]}
    return {
        "dry-run": "true" if report["dry-run"] else "false",
        "source-rows": sum(int(table["source-rows"]) for table in tables),
        "imported-rows": sum(int(table["imported-rows"]) for table in tables),
        "merged": json.dumps(merged, sort_keys=True),
        "tables": json.dumps(
            {table["table"]: table["imported-rows"] for table in tables}, sort_keys=True
        ),
    }
