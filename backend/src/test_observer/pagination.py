"""How a list endpoint is paged: the `limit` and `offset` query parameters, read into a `Page`.

Each endpoint keeps the bounds it has always had, because clients rely on them; what every
endpoint shares (the names, their order, an offset from 0) is declared here once.
"""

# No `from __future__ import annotations`: FastAPI reads the annotations of `page` below, and
# they name the bounds of the enclosing call, which a string annotation could not see.
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def paged(*, default: int, maximum: int, minimum: int = 1, description: str | None = None) -> Any:
    """The dependency that reads a page: `limit` from `minimum` to `maximum` (`default` when
    not given), `offset` from 0."""

    def page(
        limit: Annotated[int, Query(ge=minimum, le=maximum, description=description)] = default,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Page:
        return Page(limit, offset)

    return Depends(page)
