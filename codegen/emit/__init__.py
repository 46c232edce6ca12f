"""The schema model → text: `.proto` files and Python stubs through the Jinja templates, then
protoc.

`render.py` is the one Jinja environment; `stub.py`, `converters.py`, `dictenc.py`,
`client.py` and `imports.py` compute what the stub templates print; `protoc.py` compiles,
`betterproto.py` is the optional betterproto target. Rendering returns `{path: text}` and
writes nothing.

Imports `codegen.model` and `codegen.schema` (naming and contract helpers).
"""
