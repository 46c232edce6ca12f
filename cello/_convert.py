"""Stub ABI: generated stubs do `from cello import _convert`; it lives in `cello._wire.convert`."""

from ._wire.convert import *  # noqa: F403
