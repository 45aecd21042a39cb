"""Bytes <-> messages. `decode` refuses bad input with a ContractError naming the cause."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workflows.contracts.base import SUPPORTED_SCHEMA_VERSIONS
from workflows.contracts.errors import ContractError
from workflows.contracts.executions import CONTROL_COMMAND_ADAPTER, ControlCommand

__all__ = ["MAX_MESSAGE_BYTES", "decode", "decode_control", "encode"]

MAX_MESSAGE_BYTES = 1_000_000
_MAX_LISTED_ERRORS = 5
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}

T = TypeVar("T", bound=BaseModel)


def encode(msg: BaseModel) -> bytes:
    """Compact JSON with camelCase keys; null fields are kept."""
    return msg.model_dump_json(by_alias=True, exclude_none=False).encode("utf-8")


def decode(model: type[T], data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> T:
    """Parse and validate `data` as `model`; raise ContractError on any problem."""
    _check_size(data, max_bytes)
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise _diagnose(data, exc) from None


def decode_control(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> ControlCommand:
    """Parse a control command (any `kind`); raise ContractError on any problem."""
    _check_size(data, max_bytes)
    try:
        return CONTROL_COMMAND_ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise _diagnose(data, exc, tagged=True) from None


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise ContractError(
            f"message is {len(data)} bytes, over the {max_bytes}-byte limit", code="too_large"
        )


def _diagnose(data: bytes, exc: ValidationError, *, tagged: bool = False) -> ContractError:
    """Explain a failed validation: encoding, JSON syntax, shape, version, then fields."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return ContractError(f"invalid UTF-8 at byte {err.start}", code="invalid_utf8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return ContractError(
            f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}", code="invalid_json"
        )
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), "null")
        return ContractError(f"expected a JSON object, got {kind}", code="not_object")
    version = value.get("schemaVersion", SUPPORTED_SCHEMA_VERSIONS[-1])
    if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        return ContractError(
            f"unsupported schemaVersion {version!r}; supported: {supported}",
            field="schemaVersion",
            code="unsupported_schema_version",
        )
    return _validation_error(exc, value.get("kind") if tagged else None)


def _validation_error(exc: ValidationError, tag: Any) -> ContractError:
    errors = exc.errors(include_url=False, include_input=False)
    parts: list[str] = []
    paths: list[str] = []
    for error in errors:
        loc = list(error["loc"])
        if tag is not None and loc and loc[0] == tag:
            loc = loc[1:]  # drop the union tag pydantic prepends
        if not loc and error["type"] in _TAG_ERRORS:
            loc = ["kind"]
        path = ".".join(str(p) for p in loc) or "<message>"
        paths.append(path)
        parts.append(f"{path}: {error['msg']}")
    more = len(parts) - _MAX_LISTED_ERRORS
    reason = "; ".join(parts[:_MAX_LISTED_ERRORS]) + (f"; and {more} more" if more > 0 else "")
    return ContractError(reason, field=paths[0] if paths else None, code="validation")
