"""Errors that services, jobs and the CLI raise, independent of the web framework.

Each carries the HTTP status and the `detail` a client sees; `app.py` maps them to JSON in one
handler. The CLI prints `detail` as its one-line reason.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers

    def body(self) -> object:
        """The JSON `detail` the client receives."""
        return self.detail


class BadRequestError(DomainError):
    status_code = 400


class NotAuthenticatedError(DomainError):
    status_code = 401


class ForbiddenError(DomainError):
    status_code = 403


class NotFoundError(DomainError):
    status_code = 404


class ConflictError(DomainError):
    status_code = 409


class PayloadTooLargeError(DomainError):
    status_code = 413


class UnprocessableError(DomainError):
    """422. With a location, `detail` takes FastAPI's validation shape, so a check the type
    annotations cannot express answers like one they can."""

    status_code = 422

    def __init__(
        self,
        detail: str,
        *,
        loc: Sequence[str | int] | None = None,
        input: object = None,
    ) -> None:
        super().__init__(detail)
        self.loc = tuple(loc) if loc is not None else None
        self.input = input

    def body(self) -> object:
        if self.loc is None:
            return self.detail
        return [
            {"type": "value_error", "loc": list(self.loc), "msg": self.detail, "input": self.input}
        ]


class UnavailableError(DomainError):
    status_code = 503
