"""Stub ABI: generated stubs import `cello._binding`; the bindings live in `cello._wire.binding`."""

from ._wire.binding import MethodBinding, ServiceBinding

__all__ = ["MethodBinding", "ServiceBinding"]
