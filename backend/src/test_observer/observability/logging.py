"""Log formats: one JSON object per line for log collectors, plain text for a terminal.

Every record logged while a request is handled carries that request's id, so a collector can
gather all the lines of one request.

Records quote what clients send (a path, once percent-decoded, may hold CR and LF), so neither
format lets a value start a line of its own: JSON escapes control characters in strings, and the
text format writes them as `\\xNN` escapes. Only a traceback spans several lines.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from test_observer.settings import LogFormat, LogLevel

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and is a field.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# uvicorn adds these to its own records; they repeat what the message says.
_IGNORED_EXTRAS = frozenset({"color_message"})


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled, if any, when it is logged
    (a handler may format it later, outside the request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            current = request_id.get()
            if current is not None:
                record.request_id = current
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Fields passed with `extra=`, the request id first."""
    fields = {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRIBUTES and key not in _IGNORED_EXTRAS
    }
    if "request_id" in fields:
        fields = {"request_id": fields.pop("request_id"), **fields}
    return fields


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: whatever a terminal
# or a log viewer may take for the end of a line or an instruction.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_match(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as `\\xNN` (`\\uNNNN`) escapes."""
    return _CONTROL.sub(_escape_match, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extra_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # ensure_ascii: control characters (and the separators beyond ASCII) become \u escapes.
        return json.dumps(entry, default=str, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """What a person reads: time, level, logger, message, then the extras as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (the base's name)
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _extra_fields(record)
        if fields:
            extras = " ".join(f"{key}={value}" for key, value in fields.items())
            line += " " + escape_controls(extras)
        return line


def logging_config(log_format: LogFormat, level: LogLevel) -> dict[str, Any]:
    """A `logging.config.dictConfig` document for our loggers and uvicorn's (uvicorn applies it
    in every worker process)."""
    formatter = "json" if log_format == "json" else "text"
    handler = {
        "class": "logging.StreamHandler",
        "formatter": formatter,
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": f"{__name__}.JsonFormatter"},
            "text": {"()": f"{__name__}.TextFormatter"},
        },
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {"default": handler},
        "loggers": {
            "test_observer": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            # Our own request log replaces uvicorn's access log.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }


def configure_logging(log_format: LogFormat, level: LogLevel) -> None:
    import logging.config

    logging.config.dictConfig(logging_config(log_format, level))
