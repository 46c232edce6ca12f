"""A schema across builds: `lock.py` (`cello.lock.json`, every number ever handed out) and
`breaking.py` (what changed since the last build, and which changes break peers).

Imports `codegen.model` and `codegen.schema.numbering`.
"""
