"""`cello-gen import`: the other direction, a published contract → code-first Python.

`sources.py` reads the contract (`.proto` files through protoc, a descriptor set, or a live
server's reflection) as `FileDescriptorProto`s; `importer.py` writes one module per file, of
the dataclasses, enums and `GrpcService` classes that `cello-gen build` turns back into an
equal descriptor. Anything Cello cannot express is refused, naming the file and element.

Imports `emit.protoc` to compile `.proto` input and `schema/`'s naming and contract rules,
so what it writes is what introspection accepts.
"""
