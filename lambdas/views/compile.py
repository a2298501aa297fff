"""A ViewDefinition -> one generated Python function that turns a resource into its rows.

The select tree becomes nested functions (``sN(focus, I)`` returns the rows of select N for one
focus item, ``I`` being ``%rowIndex``); a row is a tuple in the view's column order. The semantics
are the specification's:

- a select's rows are the product of its columns' row, each nested select's rows and its
  unionAll's rows (in that column order); a part with no rows gives the select no rows;
- ``forEach`` runs the select once per item of its path (``%rowIndex`` = the item's index);
  ``forEachOrNull`` with no item runs it once on an empty focus, its nested parts null;
  ``repeat`` runs it on every node reached along its paths, depth first;
- ``where`` keeps a resource only when every clause is ``true``; a clause that is not boolean is
  an error, and so is a non-collection column with several values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from views.definition import Column, Select, ViewDefinition
from views.errors import ViewDefinitionError, ViewEvaluationError
from views.fhirpath import runtime
from views.fhirpath.compiler import CompileError, ExpressionCompiler, Module, Scope, as_list
from views.fhirpath.parser import FhirPathSyntaxError, parse

Row = tuple[Any, ...]
RowFunction = Callable[[dict[str, Any]], list[Row]]

_RUNTIME_NAMES = {name: getattr(runtime, name) for name in dir(runtime) if not name.startswith("_")}


class _Null:
    """The focus of a forEachOrNull that found nothing."""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()


@dataclass(frozen=True)
class CompiledView:
    definition: ViewDefinition
    rows: RowFunction  # resource -> its rows (no check of resourceType: the caller routes by type)
    source: str  # the generated Python (for debugging and tests)

    @property
    def name(self) -> str:
        return self.definition.label

    @property
    def resource(self) -> str:
        return self.definition.resource

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.definition.columns

    def evaluate(self, resources: Any) -> Iterator[dict[str, Any]]:
        """Rows as dicts (column name -> value) of the resources of the view's type, in order."""
        names = [column.name for column in self.columns]
        for resource in resources:
            if isinstance(resource, dict) and resource.get("resourceType") == self.resource:
                for row in self.rows(resource):
                    yield dict(zip(names, row, strict=True))


class _ViewCompiler:
    def __init__(self, view: ViewDefinition) -> None:
        self.view = view
        self.module = Module()
        self.lines: list[str] = []
        self.functions = 0
        constants: dict[str, tuple[str, str | None]] = {}
        for constant in view.constants:
            constants[constant.name] = (self.module.hoist([constant.value], "c"), constant.type)
        self.expressions = ExpressionCompiler(self.module, constants)

    def fail(self, problem: str) -> ViewDefinitionError:
        return ViewDefinitionError(self.view.label, problem)

    def expression(self, text: str, scope: Scope, where: str) -> str:
        try:
            return as_list(self.expressions.compile(parse(text), scope))
        except (FhirPathSyntaxError, CompileError) as error:
            raise self.fail(f"{where}: {text!r}: {error}") from None

    def compile(self) -> str:
        top = self.select(self.view.select)
        focus = Scope("resource", True)
        checks = [
            f"    if not strict_boolean({self.expression(path, focus, f'where[{n}]')}, {f'where[{n}] {path!r}'!r}):\n"
            "        return []\n"
            for n, path in enumerate(self.view.where)
        ]
        self.lines.append(
            "def rows(resource):\n    R = [resource]\n    I = 0\n"
            + "".join(checks)
            + f"    return {top}(resource, 0, R)\n"
        )
        return "\n".join(self.lines)

    def select(self, select: Select) -> str:
        """Emits the function of ``select`` (for one focus item); returns its name."""
        self.functions += 1
        name = f"s{self.functions}"
        scope = Scope("f", True, nullable=True)
        body: list[str] = []
        values = []
        for column in select.columns:
            code = self.expression(column.path, scope, f"column {column.name}")
            values.append(code if column.collection else f"one({code}, {column.name!r})")
        own = f"({', '.join(values)},)" if values else "()"
        parts = [self.nested(nested) for nested in select.selects]
        if select.union_all:
            parts.append(self.union(select.union_all))
        nulls = [self.null_row(part_select) for part_select in (*select.selects, *select.union_all[:1])]
        body.append(f"    own = {own}")
        if parts:
            body.append(f"    if f is NULL:\n        return [own + {' + '.join(nulls)}]")
            names = [f"p{n}" for n in range(len(parts))]
            body += [f"    {variable} = {part}(f, I, R)" for variable, part in zip(names, parts, strict=True)]
            loops = " ".join(f"for r{n} in {variable}" for n, variable in enumerate(names))
            rows = " + ".join(f"r{n}" for n in range(len(names)))
            body.append(f"    return [own + {rows} {loops}]")
        else:
            body.append("    return [own]")
        self.lines.append(f"def {name}(f, I, R):\n" + "\n".join(body) + "\n")
        return name

    def null_row(self, select: Select) -> str:
        return repr(tuple([] if column.collection else None for column in select.output_columns()))

    def nested(self, select: Select) -> str:
        """The function giving a nested select's rows for its parent's focus (forEach applied)."""
        inner = self.select(select)
        self.functions += 1
        name = f"n{self.functions}"
        scope = Scope("f", True, nullable=True)
        if select.repeat is not None:
            steps = []
            for n, path in enumerate(select.repeat):
                step = self.expression(path, Scope("x", True), f"repeat[{n}]")
                steps.append(f"lambda x: {step}")
            self.lines.append(
                f"def {name}(f, I, R):\n"
                f"    if f is NULL:\n        return []\n"
                f"    found = repeat_nodes(f, ({', '.join(steps)},))\n"
                f"    return [row for i, x in enumerate(found) for row in {inner}(x, i, R)]\n"
            )
        elif select.for_each is not None or select.for_each_or_null is not None:
            each = select.for_each if select.for_each is not None else select.for_each_or_null
            assert each is not None
            found = self.expression(each, scope, "forEach" if select.for_each is not None else "forEachOrNull")
            empty = f"{inner}(NULL, 0, R)" if select.for_each_or_null is not None else "[]"
            self.lines.append(
                f"def {name}(f, I, R):\n"
                f"    found = {found}\n"
                f"    if not found:\n        return {empty}\n"
                f"    if len(found) == 1:\n        return {inner}(found[0], 0, R)\n"
                f"    return [row for i, x in enumerate(found) for row in {inner}(x, i, R)]\n"
            )
        else:
            return inner
        return name

    def union(self, branches: tuple[Select, ...]) -> str:
        parts = [self.nested(branch) for branch in branches]
        self.functions += 1
        name = f"u{self.functions}"
        self.lines.append(f"def {name}(f, I, R):\n    return {' + '.join(f'{part}(f, I, R)' for part in parts)}\n")
        return name


def compile_view(view: ViewDefinition) -> CompiledView:
    """Compile a checked view; raises :class:`ViewDefinitionError` for a FHIRPath that does not
    parse or uses what this engine does not support (an unknown constant, function...)."""
    compiler = _ViewCompiler(view)
    source = compiler.compile()
    namespace: dict[str, Any] = {**_RUNTIME_NAMES, **compiler.module.values, "NULL": NULL}
    exec(compile(source, f"<view {view.label}>", "exec"), namespace)  # noqa: S102 - our own generated code
    return CompiledView(view, namespace["rows"], source)


__all__ = ["NULL", "CompiledView", "Row", "ViewEvaluationError", "compile_view"]
