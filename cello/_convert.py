"""Stub ABI: generated stubs do `from cello import _convert`; it lives in `cello._wire`
(`convert.py`, and `dictenc.py` for the dict encoders)."""

from ._wire.convert import *  # noqa: F403
from ._wire.dictenc import *  # noqa: F403
