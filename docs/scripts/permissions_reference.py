"""Write the endpoint table of docs/reference/permissions.md from the OpenAPI document.

    python docs/scripts/permissions_reference.py          # rewrite the table
    python docs/scripts/permissions_reference.py --check  # exit 1 if the page is stale

The table sits between two marker comments; the prose around it is written by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "backend" / "schemata" / "openapi.json"
PAGE = ROOT / "docs" / "reference" / "permissions.md"
BEGIN = "<!-- begin: generated from backend/schemata/openapi.json -->"
END = "<!-- end: generated -->"
METHODS = ("get", "post", "put", "patch", "delete")


def table(document: dict[str, object]) -> str:
    lines = ["| Method | Path | Permissions |", "|---|---|---|"]
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path in sorted(paths):
        for method in METHODS:
            operation = paths[path].get(method)
            if operation is None:
                continue
            permissions = operation["x-permissions"]
            needed = ", ".join(f"`{p}`" for p in permissions) if permissions else "none"
            lines.append(f"| {method.upper()} | `{path}` | {needed} |")
    return "\n".join(lines)


def render(page: str, document: dict[str, object]) -> str:
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table(document)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    document = json.loads(OPENAPI.read_text())
    page = PAGE.read_text()
    wanted = render(page, document)
    if "--check" in argv:
        if page != wanted:
            print(f"{PAGE} is stale: run python {Path(__file__).relative_to(ROOT)}")
            return 1
        return 0
    PAGE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
