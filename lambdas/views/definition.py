"""A ViewDefinition (SQL on FHIR v2) as JSON -> a checked, typed model.

``load_view(document, label)`` checks the structure the way the specification draws it and raises
:class:`ViewDefinitionError` with one line naming the view (its ``name``, else ``label``) and the
first problem. Unknown keys inside ``select`` and ``column`` are errors (a typo never silently
drops a column); the view's own metadata (``title``, ``status``, ``url``...) is read and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from views.errors import ViewDefinitionError

SQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_SELECT_KEYS = frozenset({"column", "select", "forEach", "forEachOrNull", "repeat", "unionAll", "description"})
_COLUMN_KEYS = frozenset({"name", "path", "type", "collection", "description", "tag"})
_VIEW_KEYS = frozenset({
    "resourceType", "id", "meta", "url", "identifier", "name", "title", "status", "experimental",
    "publisher", "contact", "description", "useContext", "copyright", "resource", "fhirVersion",
    "constant", "select", "where", "extension", "text", "language", "implicitRules", "version",
    "versionAlgorithmString", "versionAlgorithmCoding", "date", "profile",
})  # fmt: skip
#: value[x] of a constant -> the FHIR type it gives the constant
CONSTANT_TYPES = {
    "valueBase64Binary": "base64Binary", "valueBoolean": "boolean", "valueCanonical": "canonical",
    "valueCode": "code", "valueDate": "date", "valueDateTime": "dateTime", "valueDecimal": "decimal",
    "valueId": "id", "valueInstant": "instant", "valueInteger": "integer", "valueInteger64": "integer64",
    "valueOid": "oid", "valuePositiveInt": "positiveInt", "valueString": "string", "valueTime": "time",
    "valueUnsignedInt": "unsignedInt", "valueUri": "uri", "valueUrl": "url", "valueUuid": "uuid",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    path: str
    type: str | None  # the FHIR type the view declares (string, decimal, date...)
    collection: bool
    description: str | None
    tags: tuple[tuple[str, str], ...]

    def tag(self, name: str) -> str | None:
        return next((value for key, value in self.tags if key == name), None)


@dataclass(frozen=True, slots=True)
class Select:
    columns: tuple[Column, ...]
    for_each: str | None
    for_each_or_null: str | None
    repeat: tuple[str, ...] | None
    selects: tuple[Select, ...]
    union_all: tuple[Select, ...]

    def output_columns(self) -> tuple[Column, ...]:
        """This select's columns in row order: its own, its selects', then its unionAll's (the
        branches share one list of names)."""
        out = list(self.columns)
        for nested in self.selects:
            out.extend(nested.output_columns())
        if self.union_all:
            out.extend(self.union_all[0].output_columns())
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Constant:
    name: str
    value: Any
    type: str


@dataclass(frozen=True, slots=True)
class ViewDefinition:
    label: str  # the name errors and tables use: `name`, else what the caller called it
    name: str | None
    resource: str
    constants: tuple[Constant, ...]
    select: Select  # the view's select array, as one select without columns of its own
    where: tuple[str, ...]
    description: str | None
    document: dict[str, Any]

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.select.output_columns()


class _Checker:
    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, problem: str) -> ViewDefinitionError:
        return ViewDefinitionError(self.label, problem)

    def string(self, value: Any, where: str, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{where} must be a non-empty string, got {_shown(value)}")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(f"{where} must be an array, got {_shown(value)}")
        return value

    def obj(self, value: Any, where: str, allowed: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where} must be an object, got {_shown(value)}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{where} has unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        return value

    def column(self, value: Any, where: str) -> Column:
        column = self.obj(value, where, _COLUMN_KEYS)
        name = self.string(column.get("name"), f"{where}.name")
        assert name is not None
        if not SQL_NAME.match(name):
            raise self.fail(f"{where}.name {name!r} must match {SQL_NAME.pattern} (a SQL column name)")
        path = self.string(column.get("path"), f"{where} ({name}).path")
        assert path is not None
        kind = self.string(column.get("type"), f"{where} ({name}).type", required=False)
        collection = column.get("collection", False)
        if not isinstance(collection, bool):
            raise self.fail(f"{where} ({name}).collection must be true or false, got {_shown(collection)}")
        tags = []
        for n, raw in enumerate(self.array(column.get("tag", []), f"{where} ({name}).tag")):
            tag = self.obj(raw, f"{where} ({name}).tag[{n}]", frozenset({"name", "value"}))
            tags.append(
                (str(self.string(tag.get("name"), "tag.name")), str(self.string(tag.get("value"), "tag.value")))
            )
        description = self.string(column.get("description"), f"{where}.description", required=False)
        return Column(name, path, kind, collection, description, tuple(tags))

    def select(self, value: Any, where: str) -> Select:
        select = self.obj(value, where, _SELECT_KEYS)
        if "forEach" in select and "forEachOrNull" in select:
            raise self.fail(f"{where} has both forEach and forEachOrNull")
        for_each = self.string(select.get("forEach"), f"{where}.forEach", required=False)
        for_each_or_null = self.string(select.get("forEachOrNull"), f"{where}.forEachOrNull", required=False)
        repeat = None
        if "repeat" in select:
            paths = self.array(select["repeat"], f"{where}.repeat")
            if not paths:
                raise self.fail(f"{where}.repeat must list at least one path")
            repeat = tuple(str(self.string(p, f"{where}.repeat[{n}]")) for n, p in enumerate(paths))
            if for_each or for_each_or_null:
                raise self.fail(f"{where} has repeat and forEach")
        columns = tuple(
            self.column(c, f"{where}.column[{n}]")
            for n, c in enumerate(self.array(select.get("column", []), f"{where}.column"))
        )
        selects = tuple(
            self.select(s, f"{where}.select[{n}]")
            for n, s in enumerate(self.array(select.get("select", []), f"{where}.select"))
        )
        union_all = tuple(
            self.select(s, f"{where}.unionAll[{n}]")
            for n, s in enumerate(self.array(select.get("unionAll", []), f"{where}.unionAll"))
        )
        if not columns and not selects and not union_all:
            raise self.fail(f"{where} has no column, select or unionAll")
        result = Select(columns, for_each, for_each_or_null, repeat, selects, union_all)
        if union_all:
            names = [c.name for c in union_all[0].output_columns()]
            for n, branch in enumerate(union_all[1:], start=1):
                other = [c.name for c in branch.output_columns()]
                if other != names:
                    raise self.fail(
                        f"{where}.unionAll[{n}] has columns {other}, but unionAll[0] has {names}: "
                        "every branch needs the same columns in the same order"
                    )
        return result

    def constant(self, value: Any, where: str) -> Constant:
        if not isinstance(value, dict):
            raise self.fail(f"{where} must be an object, got {_shown(value)}")
        name = self.string(value.get("name"), f"{where}.name")
        assert name is not None
        if not SQL_NAME.match(name):
            raise self.fail(f"{where}.name {name!r} must match {SQL_NAME.pattern}")
        values = [key for key in value if key.startswith("value")]
        unknown = sorted(set(value) - {"name", "description", *CONSTANT_TYPES})
        if unknown:
            raise self.fail(f"constant {name} has unknown key {unknown[0]!r}")
        if len(values) != 1:
            raise self.fail(
                f"constant {name} needs exactly one value[x] (valueString, valueInteger...), has {len(values)}"
            )
        return Constant(name, value[values[0]], CONSTANT_TYPES[values[0]])


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_view(document: Any, label: str = "(unnamed view)") -> ViewDefinition:
    """Check a ViewDefinition's structure (not yet its FHIRPath: :func:`views.compile_view` does)."""
    if isinstance(document, dict) and isinstance(document.get("name"), str) and document["name"]:
        label = document["name"]
    checker = _Checker(label)
    view = checker.obj(document, "the view", _VIEW_KEYS)
    if view.get("resourceType", "ViewDefinition") != "ViewDefinition":
        raise checker.fail(f"resourceType must be ViewDefinition, got {_shown(view['resourceType'])}")
    name = view.get("name")
    if name is not None and (not isinstance(name, str) or not SQL_NAME.match(name)):
        raise checker.fail(f"name {_shown(name)} must match {SQL_NAME.pattern} (a SQL table name)")
    resource = checker.string(view.get("resource"), "resource")
    assert resource is not None
    if not _RESOURCE_TYPE.match(resource):
        raise checker.fail(f"resource {resource!r} is not a FHIR resource type")
    selects = checker.array(view.get("select"), "select")
    if not selects:
        raise checker.fail("select must list at least one select")
    select = Select((), None, None, None, tuple(checker.select(s, f"select[{n}]") for n, s in enumerate(selects)), ())
    constants = tuple(
        checker.constant(c, f"constant[{n}]") for n, c in enumerate(checker.array(view.get("constant", []), "constant"))
    )
    if len({c.name for c in constants}) != len(constants):
        raise checker.fail("constant names must be unique")
    where = []
    for n, raw in enumerate(checker.array(view.get("where", []), "where")):
        clause = checker.obj(raw, f"where[{n}]", frozenset({"path", "description"}))
        where.append(str(checker.string(clause.get("path"), f"where[{n}].path")))
    columns = select.output_columns()
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise checker.fail(f"column name {column.name!r} is used twice")
        seen.add(column.name)
    description = view.get("description") if isinstance(view.get("description"), str) else None
    return ViewDefinition(label, name, resource, constants, select, tuple(where), description, view)
