"""Which `.proto` file of a package each type and service goes in, with imports and options."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cello._errors import DefinitionError

from ..model import HTTP_ANNOTATIONS, WKT_FILES, EnumDef, FileDef, MessageDef, ServiceDef, TypeRef
from . import contract, naming


@dataclasses.dataclass
class PackageFiles:
    """The file layout of one protobuf package, filled in as introspection meets classes."""

    package: str = ""
    types: dict[str, str] = dataclasses.field(default_factory=dict)  # local name → path
    service_files: list[str] = dataclasses.field(default_factory=list)  # in service order
    named: set[str] = dataclasses.field(default_factory=set)  # paths from __cello_file__
    # path → option → (value, where it was set)
    options: dict[str, dict[str, tuple[str | bool, str]]] = dataclasses.field(default_factory=dict)

    @property
    def default_file(self) -> str:
        return naming.file_path_for(self.package)

    def __getitem__(self, local: str) -> str:
        return self.types[local]

    def __setitem__(self, local: str, path: str) -> None:
        self.types[local] = path

    def place(self, cls: type, where: str) -> str:
        """The `.proto` path of a top-level type or a service, recording its options."""
        declared = contract.declared_file(cls)
        path = contract.file_path(declared, self.package, self.default_file, where=where)
        if declared is not None:
            self.named.add(path)
        found = contract.module_options(cls)
        if found is not None:
            owner, raw = found
            options = self.options.setdefault(path, {})
            for key, value in contract.check_options(raw, where=owner).items():
                previous = options.setdefault(key, (value, owner))
                if previous[0] != value:
                    raise DefinitionError(
                        f"{owner}: file option {key} = {value!r} for {path} disagrees with "
                        f"{previous[0]!r} set in {previous[1]}; set it in one place"
                    )
        return path

    def place_nested(self, cls: type, scope: tuple[str, ...], where: str) -> str:
        """A nested type lives in the file of its outermost message."""
        path = self.types[".".join(scope)]
        own = cls.__dict__.get(contract.FILE_ATTR)
        if (
            own is not None
            and contract.file_path(own, self.package, self.default_file, where=where) != path
        ):
            raise DefinitionError(
                f"{where}: a nested type lives in the file of its enclosing message ({path}); "
                f"drop its {contract.FILE_ATTR} {own!r} or move the class out"
            )
        return path

    def file_defs(
        self,
        messages: Mapping[str, MessageDef],
        enums: Mapping[str, EnumDef],
        services: list[ServiceDef],
        config: Mapping[str, Any],
        homes: Mapping[str, str],
    ) -> list[FileDef]:
        """The package's types and services grouped by `.proto` file, with their imports.

        `homes` maps the full name of every type of the schema to its file, so a file
        imports the files (of any package) holding the types it refers to.

        Raises:
            DefinitionError: the package's files are in several directories.
        """
        paths = sorted({*self.types.values(), *self.service_files}) or [self.default_file]
        folders = {p.rsplit("/", 1)[0] if "/" in p else "" for p in paths}
        if len(folders) > 1:
            raise DefinitionError(
                f"package {self.package!r}: its files {paths} are in different directories; "
                "the files of one package share a directory (the stubs import each other), "
                "so give the module of the types meant for another directory its own "
                f'package: `{contract.PACKAGE_ATTR} = "other.v1"`'
            )
        files = []
        for path in paths:
            file_messages = [m for m in messages.values() if self.types[m.local_name] == path]
            file_enums = [e for e in enums.values() if self.types[e.local_name] == path]
            if path in self.named:  # a contract's file: types in the order written
                pyrefs = [m.python for m in file_messages] + [e.python for e in file_enums]
                seen = [ref.module for ref in pyrefs if ref is not None]
                modules = list(dict.fromkeys(seen))  # first use, which is deterministic
                file_messages.sort(key=lambda m: contract.definition_order(m.python, modules))
                file_enums.sort(key=lambda e: contract.definition_order(e.python, modules))
            file_services = [
                s for s, p in zip(services, self.service_files, strict=True) if p == path
            ]
            refs: list[TypeRef] = [f.type for m in file_messages for f in m.fields]
            refs += [t for s in file_services for m in s.methods for t in (m.request, m.response)]
            wkt = {WKT_FILES[r.wkt] for r in refs if r.wkt is not None}
            own = {homes[r.name] for r in refs if r.name in homes} - {path}
            if any(m.http is not None for s in file_services for m in s.methods):
                wkt.add(HTTP_ANNOTATIONS)
            files.append(
                FileDef(
                    path=path,
                    package=self.package,
                    imports=tuple(sorted(wkt | own)),
                    messages=tuple(file_messages),
                    enums=tuple(file_enums),
                    services=tuple(file_services),
                    options=self._options(path, config),
                )
            )
        return files

    def _options(self, path: str, config: Mapping[str, Any]) -> tuple[tuple[str, str | bool], ...]:
        """Code's `__cello_options__`, overridden by config for the package, then the file."""
        merged = {key: value for key, (value, _) in self.options.get(path, {}).items()}
        for key in (self.package, path):
            if key in config:
                where = f"[tool.cello.options.{key!r}]"
                merged |= contract.check_options(config[key], where=where)
        return tuple(sorted(merged.items()))


def check_one_package_per_file(files: list[FileDef]) -> None:
    """Raise if two packages were given one path (possible with `__cello_file__` paths)."""
    owners: dict[str, str] = {}
    for f in files:
        if owners.setdefault(f.path, f.package) != f.package:
            raise DefinitionError(
                f"{f.path}: holds types of packages {owners[f.path]!r} and {f.package!r}; "
                f"a `.proto` file has one package, so give {contract.FILE_ATTR} a file "
                "name without a directory or a distinct path per package"
            )


def check_acyclic(needs: Mapping[str, set[str]]) -> None:
    """protoc refuses files that import each other; name the cycle instead."""
    done: set[str] = set()

    def visit(path: str, trail: list[str]) -> None:
        if path in trail:
            cycle = " → ".join([*trail[trail.index(path) :], path])
            raise DefinitionError(
                f"files import each other ({cycle}); protoc refuses import cycles, so move "
                f"the types that refer to each other into one file ({contract.FILE_ATTR})"
            )
        if path in done:
            return
        for dep in sorted(needs.get(path, ())):
            visit(dep, [*trail, path])
        done.add(path)

    for path in sorted(needs):
        visit(path, [])
