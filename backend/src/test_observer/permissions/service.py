"""The permission names, in declaration order."""

from test_observer.db.models import Permission


def all_permissions() -> list[Permission]:
    return list(Permission)


def parse_permissions(names: list[str]) -> list[Permission]:
    """Permissions named on a command line; ValueError names the first unknown one."""
    known = {p.value: p for p in Permission}
    parsed = []
    for name in names:
        permission = known.get(name.strip().lower())
        if permission is None:
            raise ValueError(f"unknown permission {name!r} (known: {', '.join(known)})")
        parsed.append(permission)
    return list(dict.fromkeys(parsed))
