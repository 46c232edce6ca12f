"""A request the user's model refused → INVALID_ARGUMENT with `google.rpc.BadRequest`."""

from __future__ import annotations

import sys

from .._errors import GrpcError


def invalid_argument(exc: ValueError) -> GrpcError:
    """The status of a request whose decoding raised `exc`.

    A pydantic `ValidationError` becomes one `BadRequest.FieldViolation` per error, named by
    its dotted location (`author.name`, `tags.2`), so clients in any language can point at
    the field; any other ValueError (a dataclass's `__post_init__`) carries its message.
    """
    pydantic_core = sys.modules.get("pydantic_core")  # imported only if the user has pydantic
    if pydantic_core is None or not isinstance(exc, pydantic_core.ValidationError):
        return GrpcError(GrpcError.INVALID_ARGUMENT, str(exc))
    from google.rpc import error_details_pb2

    violations = [
        error_details_pb2.BadRequest.FieldViolation(
            field=".".join(str(part) for part in error["loc"]) or exc.title,
            description=error["msg"],
        )
        for error in exc.errors(include_url=False)
    ]
    listed = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return GrpcError(
        GrpcError.INVALID_ARGUMENT,
        f"invalid {exc.title}: {listed}",
        details=[error_details_pb2.BadRequest(field_violations=violations)],
    )
