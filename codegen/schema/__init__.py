"""Service classes → the schema model. All validation of user input happens here.

`targets.py` imports what to build, `introspect.py` walks services and `messages.py` their
messages and enums, with `hints.py` (type hints → field types: the mapping table),
`fields.py`, `declared.py` (declared oneofs, JSON names, reserved), `naming.py`,
`numbering.py`, `scopes.py`, `cycles.py`, `contract.py` (exact-contract options) and
`layout.py` (which `.proto` file each type goes in).

Imports `codegen.model` and the definitions of `cello` (`cello._definitions`, `cello._errors`).
"""
