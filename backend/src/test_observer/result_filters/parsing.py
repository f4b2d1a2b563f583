"""The query-string forms of the filters; errors keep FastAPI's validation shape."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict

from test_observer.errors import UnprocessableError

from .model import IdsFilter

ANY = "any"
NONE = "none"


class MetadataFilterError(ValueError):
    pass


def invalid_query(name: str, message: str, value: object) -> UnprocessableError:
    """A 422 in FastAPI's validation shape, for checks the type annotations cannot express."""
    return UnprocessableError(message, loc=("query", name), input=value)


def parse_id_filter(name: str, values: list[str] | None) -> IdsFilter | None:
    """`[1, 2]`, "any" or "none" from repeated query values; mixing keywords and ids is 422."""
    if not values:
        return None
    keywords = {value for value in values if value in (ANY, NONE)}
    if keywords:
        if len(values) != 1:
            raise invalid_query(
                name,
                "Cannot combine reserved values 'any'/'none' with specific filter values.",
                values,
            )
        return "any" if ANY in keywords else "none"
    try:
        return [int(value) for value in values]
    except ValueError:
        raise invalid_query(
            name, "Input should be a list of integers, 'any' or 'none'", values
        ) from None


def _decode(part: str, item: str) -> str:
    # Query strings arrive as any text: b64decode refuses non-ASCII with a plain ValueError.
    try:
        return base64.b64decode(part, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MetadataFilterError(
            f"Invalid base64 encoding in execution metadata: '{item}'."
        ) from None


def parse_execution_metadata(items: list[str] | None) -> dict[str, list[str]]:
    """`base64(category):base64(value)` items grouped by category."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for item in items or []:
        if ":" not in item:
            raise invalid_query(
                "execution_metadata",
                f"Invalid execution metadata format: '{item}'. "
                "Expected base64 encoded 'category:value'.",
                item,
            )
        encoded_category, _, encoded_value = item.partition(":")
        try:
            category = _decode(encoded_category, item)
            value = _decode(encoded_value, item)
        except MetadataFilterError as error:
            raise invalid_query("execution_metadata", str(error), item) from None
        if not category or not value:
            raise invalid_query(
                "execution_metadata",
                f"Invalid execution metadata: '{item}'. Both category and value must be non-empty.",
                item,
            )
        grouped[category].append(value)
    return dict(grouped)
