"""FHIRPath syntax trees -> Python source, run over the parsed JSON (views.fhirpath.runtime).

A view is compiled once; each expression becomes one Python expression, so evaluating a column on
a resource costs a few dict lookups and calls, not a walk of a syntax tree. Each compiled
expression has one of two forms: ``list`` (a collection) or ``bool3`` (``True`` / ``False`` /
``None`` for empty, the form of the boolean operators, so ``where(system = 'x' and code = 'y')``
builds no list per item).

Without a FHIR model, types come from the JSON and from the path: ``value.ofType(Quantity)`` reads
``valueQuantity`` (else ``value`` when its JSON type is that type), and a choice element named
without its type (``value``) finds its one ``value[x]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from views.fhirpath import ast
from views.fhirpath.runtime import CHOICE_NAMES

TEMPORAL = frozenset({"date", "dateTime", "instant", "time"})
#: %-names that are not ViewDefinition constants
_WELL_KNOWN = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}


_LOGIC = {"and": "and3", "or": "or3", "xor": "xor3", "implies": "implies3"}
#: operator -> (Python template over the operands' collections a and b, form, FHIR type)
_OTHER_BINARY = {
    "|": ("union({a}, {b})", "list", None),
    "&": ("concatenate({a}, {b})", "list", "string"),
    "in": ("membership({a}, {b})", "bool3", "boolean"),
    "contains": ("membership({b}, {a})", "bool3", "boolean"),
}


class CompileError(ValueError):
    """The expression is FHIRPath, but not one this engine can run (unknown function, constant...)."""


@dataclass(frozen=True, slots=True)
class Code:
    text: str
    form: str  # list | bool3
    type: str | None = None  # the FHIR type, when the path says it (literals, ofType, typed constants)


@dataclass(frozen=True, slots=True)
class Scope:
    """What the focus is where an expression is compiled."""

    focus: str  # a Python expression: the focus collection, or (single) the one focus item
    single: bool
    index: str | None = None  # the Python name holding $index
    nullable: bool = False  # single focus that may be the NULL marker (a forEachOrNull with no item)


@dataclass
class Module:
    """The generated module's globals: constants hoisted out of the per-resource code."""

    values: dict[str, Any] = field(default_factory=dict)
    counter: int = 0

    def hoist(self, value: Any, prefix: str = "k") -> str:
        for name, existing in self.values.items():
            if name.startswith(prefix) and existing == value and type(existing) is type(value):
                return name
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.values[name] = value
        return name

    def cell(self) -> str:
        """A new module-level cell (a one-item list) for a variable."""
        name = self.fresh("d")
        self.values[name] = [[]]
        return name

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def as_list(code: Code) -> str:
    return f"wrap({code.text})" if code.form == "bool3" else code.text


def as_bool(code: Code) -> str:
    return code.text if code.form == "bool3" else f"boolean3({code.text})"


def _capitalized(name: str) -> str:
    return name[:1].upper() + name[1:]


class ExpressionCompiler:
    def __init__(self, module: Module, constants: dict[str, tuple[str, str | None]]) -> None:
        """``constants``: %name -> (the global holding its collection, its FHIR type)."""
        self.module = module
        self.constants = dict(constants)

    def compile(self, node: ast.Node, scope: Scope) -> Code:
        method: Callable[[Any, Scope], Code] | None = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise CompileError(f"unsupported expression {type(node).__name__}")
        return method(node, scope)

    def collection(self, node: ast.Node, scope: Scope) -> str:
        return as_list(self.compile(node, scope))

    def criteria(self, node: ast.Node, scope: Scope) -> str:
        """A Python expression that is True exactly when ``node`` is FHIRPath ``true`` (singleton
        evaluation: a single non-boolean item is true): the form of where() / exists() / iif()
        criteria, where an empty or false result counts the same. Comparisons of an item's member
        with string literals and the boolean operators become plain Python (``system = 'a' and
        (code = 'x' or code = 'y')`` is one type check and two dict lookups), so a filter over
        codings builds nothing."""
        member = self._member_test(node, scope)
        if member is not None:
            item, test = member
            return f"(type({item}) is dict and {test})"
        if isinstance(node, ast.Binary) and node.op in ("and", "or"):
            return f"({self.criteria(node.left, scope)} {node.op} {self.criteria(node.right, scope)})"
        if isinstance(node, ast.Binary) and node.op == "=" and _string_literal(node.right):
            left = self.compile(node.left, scope)
            if left.type not in TEMPORAL:
                return f"({as_list(left)} == [{node.right.value!r}])"  # type: ignore[union-attr]
        if isinstance(node, ast.Call) and node.name == "where" and len(node.args) == 1:
            tests = _conjunction(node.args[0])
            if tests is not None and not _uses_index(node.args[0]):
                # where(coding.where(system = 'a' and code = 'x')): one call, no list
                return f"matches_one({self._base(node, scope)}, {self._tests(tests)})"
        if isinstance(node, ast.Call) and node.name in ("exists", "empty") and not node.args:
            base = self._base(node, scope)
            return f"(len({base}) > 0)" if node.name == "exists" else f"(not {base})"
        code = self.compile(node, scope)
        return f"({code.text} is True)" if code.form == "bool3" else f"truth({code.text})"

    def _member_test(self, node: ast.Node, scope: Scope) -> tuple[str, str] | None:
        """``name = 'a'``, ``name = 'a' or name = 'b'``, and ``and`` / ``or`` of such, on the one
        focus item: (the item, a test that assumes it is a dict). A member equals the literal when
        it is the literal, or a one-item list of it (FHIRPath's singleton equality)."""
        if not scope.single or scope.nullable:
            return None
        if isinstance(node, ast.Binary) and node.op == "=" and _string_literal(node.right):
            name = _own_member(node.left)
            if name is None:
                return None
            return scope.focus, self._member_in(scope.focus, name, [str(node.right.value)])  # type: ignore[union-attr]
        if isinstance(node, ast.Binary) and node.op in ("and", "or"):
            alternatives = _same_member_alternatives(node) if node.op == "or" else None
            if alternatives is not None:
                name, literals = alternatives
                return scope.focus, self._member_in(scope.focus, name, literals)
            left, right = self._member_test(node.left, scope), self._member_test(node.right, scope)
            if left is not None and right is not None:
                return scope.focus, f"({left[1]} {node.op} {right[1]})"
        return None

    def _tests(self, tests: list[tuple[str, list[str]]]) -> str:
        return self.module.hoist(tuple((name, frozenset(literals)) for name, literals in tests), "t")

    def _where_path_matches(self, base: str, criteria: ast.Node) -> str | None:
        """``where(a.b.where(m = 'x' and ...))`` -> one runtime call (no list or frame per item)."""
        if not (isinstance(criteria, ast.Call) and criteria.name == "where" and len(criteria.args) == 1):
            return None
        names: list[str] = []
        current = criteria.base
        while isinstance(current, ast.Member):
            names.append(current.name)
            current = current.base
        tests = _conjunction(criteria.args[0])
        if current is not None or not names or tests is None:
            return None
        return f"where_path_matches({base}, {tuple(reversed(names))!r}, {self._tests(tests)})"

    def _member_in(self, item: str, name: str, literals: list[str]) -> str:
        accepted = self.module.hoist((*literals, *([literal] for literal in literals)), "t")
        return f"({item}.get({name!r}) in {accepted})"

    # ---- terms

    def _Literal(self, node: ast.Literal, scope: Scope) -> Code:
        if node.kind == "quantity":
            raise CompileError("quantity literals are not supported")
        return Code(self.module.hoist([node.value]), "list", node.kind)

    def _EmptyCollection(self, node: ast.EmptyCollection, scope: Scope) -> Code:
        return Code("EMPTY", "list")

    def _This(self, node: ast.This, scope: Scope) -> Code:
        return Code(self._focus(scope), "list")

    def _focus(self, scope: Scope) -> str:
        if not scope.single:
            return scope.focus
        if scope.nullable:
            return f"([] if {scope.focus} is NULL else [{scope.focus}])"
        return f"[{scope.focus}]"

    def _IndexVariable(self, node: ast.IndexVariable, scope: Scope) -> Code:
        if scope.index is None:
            raise CompileError("$index is only defined inside where(), select(), exists() or all()")
        return Code(f"[{scope.index}]", "list", "integer")

    def _Constant(self, node: ast.Constant, scope: Scope) -> Code:
        name = node.name
        if name in self.constants:
            variable, kind = self.constants[name]
            return Code(variable, "list", kind)
        if name == "rowIndex":
            return Code("[I]", "list", "integer")
        if name in ("resource", "rootResource", "context"):
            return Code("R", "list")
        if name in _WELL_KNOWN:
            return Code(self.module.hoist([_WELL_KNOWN[name]]), "list", "string")
        raise CompileError(f"undefined constant %{name}")

    def _TypeName(self, node: ast.TypeName, scope: Scope) -> Code:
        # a bare type name where an expression is expected is read as a member name
        return self._Member(ast.Member(None, node.name), scope)

    # ---- navigation

    def _Member(self, node: ast.Member, scope: Scope) -> Code:
        names: list[str] = []
        current: ast.Node | None = node
        while isinstance(current, ast.Member):
            names.append(current.name)
            current = current.base
        names.reverse()
        if current is None or isinstance(current, ast.This):
            return Code(self._walk(scope.focus if scope.single else None, scope, names), "list")
        base = self.collection(current, scope)
        return Code(self._walk_collection(base, names), "list")

    def _walk(self, item: str | None, scope: Scope, names: list[str]) -> str:
        """``names`` from the focus: one item (``item``) or the focus collection."""
        if item is None:
            return self._walk_collection(scope.focus, names)
        if len(names) == 1:
            return f"child1({item}, {names[0]!r})"
        if len(names) == 2:
            return f"path2({item}, {names[0]!r}, {names[1]!r})"
        return f"path1({item}, {tuple(names)!r})"

    def _walk_collection(self, base: str, names: list[str]) -> str:
        if len(names) == 1:
            return f"child({base}, {names[0]!r})"
        return f"path({base}, {tuple(names)!r})"

    def _Indexer(self, node: ast.Indexer, scope: Scope) -> Code:
        base = self.collection(node.base, scope)
        if isinstance(node.index, ast.Literal) and node.index.kind == "integer":
            position = int(str(node.index.value))
            return Code(f"{base}[{position}:{position + 1}]", "list")
        return Code(f"index({base}, {self.collection(node.index, scope)})", "list")

    # ---- operators

    def _Unary(self, node: ast.Unary, scope: Scope) -> Code:
        operand = self.compile(node.operand, scope)
        return operand if node.op == "+" else Code(f"negate({as_list(operand)})", "list", operand.type)

    def _Binary(self, node: ast.Binary, scope: Scope) -> Code:
        op = node.op
        left = self.compile(node.left, scope)
        right = self.compile(node.right, scope)
        if op in _LOGIC:
            return Code(f"{_LOGIC[op]}({as_bool(left)}, {as_bool(right)})", "bool3", "boolean")
        if op in ("=", "!="):
            test = self._equality(node, left, right)
            return Code(test if op == "=" else f"not3({test})", "bool3", "boolean")
        a, b = as_list(left), as_list(right)
        if op in ("~", "!~"):
            test = f"equivalent({a}, {b})"
            return Code(test if op == "~" else f"(not {test})", "bool3", "boolean")
        if op in ("<", "<=", ">", ">="):
            temporal = left.type in TEMPORAL or right.type in TEMPORAL
            return Code(f"compare({a}, {b}, {op!r}, {temporal})", "bool3", "boolean")
        text, form, kind = _OTHER_BINARY.get(op, ("arithmetic({a}, {b}, {op!r})", "list", None))
        return Code(text.format(a=a, b=b, op=op), form, kind)

    def _equality(self, node: ast.Binary, left: Code, right: Code) -> str:
        if left.type in TEMPORAL or right.type in TEMPORAL:
            return f"equal_temporal({as_list(left)}, {as_list(right)})"
        literal = node.right if isinstance(node.right, ast.Literal) else None
        if literal is not None and literal.kind in ("string", "integer", "boolean"):
            return f"equal_value({as_list(left)}, {literal.value!r})"
        return f"equal({as_list(left)}, {as_list(right)})"

    def _TypeOperation(self, node: ast.TypeOperation, scope: Scope) -> Code:
        operand = self.collection(node.operand, scope)
        if node.op == "as":
            return Code(f"of_type({operand}, {node.type.name!r})", "list", node.type.name)
        return Code(f"(None if not {operand} else is_type(single({operand}, 'is'), {node.type.name!r}))", "bool3")

    # ---- functions

    def _Call(self, node: ast.Call, scope: Scope) -> Code:
        handler: Callable[[ast.Call, Scope], Code] | None = getattr(self, f"_fn_{node.name}", None)
        if handler is None:
            raise CompileError(f"unsupported FHIRPath function {node.name}()")
        return handler(node, scope)

    def _base(self, node: ast.Call, scope: Scope) -> str:
        if node.base is None:
            return self._focus(scope)
        return self.collection(node.base, scope)

    def _arity(self, node: ast.Call, low: int, high: int | None = None) -> None:
        high = low if high is None else high
        if not low <= len(node.args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise CompileError(f"{node.name}() takes {wanted} argument(s), got {len(node.args)}")

    def _item_scope(self, scope: Scope, uses_index: bool) -> tuple[Scope, str, str]:
        item = self.module.fresh("v")
        index = self.module.fresh("i") if uses_index else None
        loop = f"{index}, {item}" if index else item
        return Scope(item, True, index), item, loop

    def _iterate(self, base: str, loop: str, uses_index: bool) -> str:
        return f"enumerate({base})" if uses_index else base

    def _fn_defineVariable(self, node: ast.Call, scope: Scope) -> Code:
        """``defineVariable(name[, expr])`` (FHIRPath 3.0): %name holds expr evaluated on the input
        (or the input) for the rest of the expression; the input passes through."""
        self._arity(node, 1, 2)
        name = node.args[0]
        if not (isinstance(name, ast.Literal) and name.kind == "string"):
            raise CompileError("defineVariable() takes the variable's name as a string literal")
        variable_name = str(name.value)
        if variable_name in self.constants or variable_name in ("rowIndex", "resource", "rootResource", "context"):
            raise CompileError(f"defineVariable(): %{variable_name} is already defined")
        # a cell in the generated module (an assignment expression cannot sit in a comprehension's
        # iterable): set when the chain reaches defineVariable, read by what follows it in the chain
        cell = self.module.cell()
        step = (
            f"lambda {cell}_in: {self.collection(node.args[1], Scope(f'{cell}_in', False, scope.index))}"
            if len(node.args) == 2
            else "None"
        )
        self.constants[variable_name] = (f"{cell}[0]", None)
        return Code(f"define_variable({cell}, {self._base(node, scope)}, {step})", "list")

    def _fn_where(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        base = self._base(node, scope)
        fused = self._where_path_matches(base, node.args[0])
        if fused is not None:
            return Code(fused, "list")
        uses_index = _uses_index(node.args[0])
        inner, item, loop = self._item_scope(scope, uses_index)
        criteria = self.criteria(node.args[0], inner)
        return Code(f"[{item} for {loop} in {self._iterate(base, loop, uses_index)} if {criteria}]", "list")

    def _fn_select(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        base = self._base(node, scope)
        uses_index = _uses_index(node.args[0])
        inner, _, loop = self._item_scope(scope, uses_index)
        projected = self.collection(node.args[0], inner)
        found = self.module.fresh("x")
        iterated = self._iterate(base, loop, uses_index)
        return Code(f"[{found} for {loop} in {iterated} for {found} in {projected}]", "list")

    def _fn_repeat(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        base = self._base(node, scope)
        inner, item, _ = self._item_scope(scope, False)
        step = self.collection(node.args[0], inner)
        return Code(f"repeat_function({base}, lambda {item}: {step})", "list")

    def _fn_exists(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0, 1)
        base = self._base(node, scope)
        if not node.args:
            return Code(f"(len({base}) > 0)", "bool3", "boolean")
        uses_index = _uses_index(node.args[0])
        inner, _, loop = self._item_scope(scope, uses_index)
        criteria = self.criteria(node.args[0], inner)
        return Code(f"any({criteria} for {loop} in {self._iterate(base, loop, uses_index)})", "bool3", "boolean")

    def _fn_all(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        base = self._base(node, scope)
        uses_index = _uses_index(node.args[0])
        inner, _, loop = self._item_scope(scope, uses_index)
        criteria = self.criteria(node.args[0], inner)
        return Code(f"all({criteria} for {loop} in {self._iterate(base, loop, uses_index)})", "bool3", "boolean")

    def _fn_empty(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"(not {self._base(node, scope)})", "bool3", "boolean")

    def _fn_not(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        if node.base is None:
            return Code(f"not3(boolean3({self._focus(scope)}))", "bool3", "boolean")
        return Code(f"not3({as_bool(self.compile(node.base, scope))})", "bool3", "boolean")

    def _boolean_aggregate(self, node: ast.Call, scope: Scope, test: str) -> Code:
        self._arity(node, 0)
        item = self.module.fresh("v")
        return Code(test.format(base=self._base(node, scope), item=item), "bool3", "boolean")

    def _fn_allTrue(self, node: ast.Call, scope: Scope) -> Code:
        return self._boolean_aggregate(node, scope, "all({item} is True for {item} in {base})")

    def _fn_anyTrue(self, node: ast.Call, scope: Scope) -> Code:
        return self._boolean_aggregate(node, scope, "any({item} is True for {item} in {base})")

    def _fn_allFalse(self, node: ast.Call, scope: Scope) -> Code:
        return self._boolean_aggregate(node, scope, "all({item} is False for {item} in {base})")

    def _fn_anyFalse(self, node: ast.Call, scope: Scope) -> Code:
        return self._boolean_aggregate(node, scope, "any({item} is False for {item} in {base})")

    def _fn_first(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"{self._base(node, scope)}[:1]", "list")

    def _fn_last(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"{self._base(node, scope)}[-1:]", "list")

    def _fn_tail(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"{self._base(node, scope)}[1:]", "list")

    def _fn_skip(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        count = f"integer_argument({self.collection(node.args[0], scope)}, 'skip')"
        return Code(f"{self._base(node, scope)}[max(0, {count}):]", "list")

    def _fn_take(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        count = f"integer_argument({self.collection(node.args[0], scope)}, 'take')"
        return Code(f"{self._base(node, scope)}[:max(0, {count})]", "list")

    def _fn_single(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"wrap(single({self._base(node, scope)}, 'single()'))", "list")

    def _fn_count(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"[len({self._base(node, scope)})]", "list", "integer")

    def _fn_distinct(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"distinct({self._base(node, scope)})", "list")

    def _fn_union(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        return Code(f"union({self._base(node, scope)}, {self.collection(node.args[0], scope)})", "list")

    def _fn_combine(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        return Code(f"({self._base(node, scope)} + {self.collection(node.args[0], scope)})", "list")

    def _fn_iif(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 2, 3)
        inner = scope if node.base is None else Scope(self.collection(node.base, scope), False, scope.index)
        criterion = self.criteria(node.args[0], inner)
        when_true = self.collection(node.args[1], inner)
        when_false = self.collection(node.args[2], inner) if len(node.args) == 3 else "EMPTY"
        return Code(f"({when_true} if {criterion} else {when_false})", "list")

    def _type_argument(self, node: ast.Call) -> str:
        self._arity(node, 1)
        argument = node.args[0]
        if isinstance(argument, ast.TypeName):
            return argument.name
        if isinstance(argument, ast.Member) and argument.base is None:
            return argument.name
        raise CompileError(f"{node.name}() takes a type name")

    def _fn_ofType(self, node: ast.Call, scope: Scope) -> Code:
        type_name = self._type_argument(node)
        base = node.base
        if isinstance(base, ast.Member):
            # value.ofType(Quantity) -> valueQuantity (else a `value` whose JSON type is Quantity)
            if base.base is None or isinstance(base.base, ast.This):
                source = self._focus(scope)
            else:
                source = self.collection(base.base, scope)
            typed = base.name + _capitalized(type_name)
            return Code(f"typed_child({source}, {base.name!r}, {typed!r}, {type_name!r})", "list", type_name)
        return Code(f"of_type({self._base(node, scope)}, {type_name!r})", "list", type_name)

    def _fn_is(self, node: ast.Call, scope: Scope) -> Code:
        type_name = self._type_argument(node)
        base = self._base(node, scope)
        return Code(f"(None if not {base} else is_type(single({base}, 'is()'), {type_name!r}))", "bool3", "boolean")

    def _fn_as(self, node: ast.Call, scope: Scope) -> Code:
        type_name = self._type_argument(node)
        return Code(f"of_type({self._base(node, scope)}, {type_name!r})", "list", type_name)

    def _string_arg(self, node: ast.Call, scope: Scope, position: int = 0) -> str:
        argument = node.args[position]
        if isinstance(argument, ast.Literal) and argument.kind == "string":
            return repr(argument.value)
        return f"string_argument({self.collection(argument, scope)}, {node.name!r})"

    def _fn_extension(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        return Code(f"extension({self._base(node, scope)}, {self._string_arg(node, scope)})", "list")

    def _fn_join(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0, 1)
        separator = self._string_arg(node, scope) if node.args else "''"
        return Code(f"join({self._base(node, scope)}, {separator} or '')", "list", "string")

    def _fn_getResourceKey(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"resource_key({self._base(node, scope)})", "list", "string")

    def _fn_getReferenceKey(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0, 1)
        type_name = self._type_argument(node) if node.args else None
        return Code(f"reference_key({self._base(node, scope)}, {type_name!r})", "list", "string")

    def _boundary(self, node: ast.Call, scope: Scope, high: bool) -> Code:
        self._arity(node, 0, 1)  # the precision argument is accepted and not used
        kind = self.compile(node.base, scope).type if node.base is not None else None
        return Code(f"boundary({self._base(node, scope)}, {high}, {kind!r})", "list", kind)

    def _fn_lowBoundary(self, node: ast.Call, scope: Scope) -> Code:
        return self._boundary(node, scope, False)

    def _fn_highBoundary(self, node: ast.Call, scope: Scope) -> Code:
        return self._boundary(node, scope, True)

    def _string_operation(self, node: ast.Call, scope: Scope, arity: int, operation: str) -> Code:
        self._arity(node, arity)
        args = [self._string_arg(node, scope, n) for n in range(arity)]
        function = operation.format(*args)
        return Code(f"string_function({self._base(node, scope)}, {node.name!r}, {function})", "list")

    def _fn_startsWith(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 1, "lambda s: s.startswith({0})")

    def _fn_endsWith(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 1, "lambda s: s.endswith({0})")

    def _fn_contains(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 1, "lambda s: {0} in s")

    def _fn_indexOf(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 1, "lambda s: s.find({0})")

    def _fn_upper(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 0, "str.upper")

    def _fn_lower(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 0, "str.lower")

    def _fn_trim(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 0, "str.strip")

    def _fn_length(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 0, "len")

    def _fn_replace(self, node: ast.Call, scope: Scope) -> Code:
        return self._string_operation(node, scope, 2, "lambda s: s.replace({0}, {1})")

    def _fn_matches(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1)
        return Code(f"matches({self._base(node, scope)}, {self._string_arg(node, scope)})", "list", "boolean")

    def _fn_substring(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 1, 2)
        start = self.collection(node.args[0], scope)
        length = self.collection(node.args[1], scope) if len(node.args) == 2 else "None"
        return Code(f"substring({self._base(node, scope)}, {start}, {length})", "list", "string")

    def _fn_toString(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"to_string({self._base(node, scope)})", "list", "string")

    def _fn_toInteger(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"to_integer({self._base(node, scope)})", "list", "integer")

    def _fn_toDecimal(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        return Code(f"to_decimal({self._base(node, scope)})", "list", "decimal")

    def _fn_hasValue(self, node: ast.Call, scope: Scope) -> Code:
        self._arity(node, 0)
        base = self._base(node, scope)
        return Code(f"(len({base}) == 1 and not isinstance({base}[0], (dict, list)))", "bool3", "boolean")


def _own_member(node: ast.Node) -> str | None:
    """The name of ``name`` / ``$this.name`` (a member of the focus item; not a choice element)."""
    if isinstance(node, ast.Member) and (node.base is None or isinstance(node.base, ast.This)):
        return None if node.name in CHOICE_NAMES else node.name
    return None


def _conjunction(node: ast.Node) -> list[tuple[str, list[str]]] | None:
    """``m1 = 'a' and (m2 = 'x' or m2 = 'y')`` -> [(m1, ['a']), (m2, ['x', 'y'])]."""
    if isinstance(node, ast.Binary) and node.op == "and":
        left, right = _conjunction(node.left), _conjunction(node.right)
        return left + right if left is not None and right is not None else None
    alternatives = _same_member_alternatives(node)
    return [alternatives] if alternatives is not None else None


def _same_member_alternatives(node: ast.Node) -> tuple[str, list[str]] | None:
    """``m = 'a' or m = 'b' or ...`` -> (m, ['a', 'b', ...])."""
    if isinstance(node, ast.Binary) and node.op == "or":
        left, right = _same_member_alternatives(node.left), _same_member_alternatives(node.right)
        if left is not None and right is not None and left[0] == right[0]:
            return left[0], left[1] + right[1]
        return None
    if isinstance(node, ast.Binary) and node.op == "=" and _string_literal(node.right):
        name = _own_member(node.left)
        return (name, [str(node.right.value)]) if name is not None else None  # type: ignore[union-attr]
    return None


def _string_literal(node: ast.Node) -> bool:
    return isinstance(node, ast.Literal) and node.kind == "string"


def _uses_index(node: ast.Node) -> bool:
    """Does an argument read $index (then the loop enumerates)?"""
    if isinstance(node, ast.IndexVariable):
        return True
    for value in getattr(node, "__slots__", ()):
        child = getattr(node, value)
        if isinstance(child, tuple):
            if any(_uses_index(c) for c in child if not isinstance(c, str)):
                return True
        elif child is not None and not isinstance(child, str | int | float | bool) and _uses_index(child):
            return True
    return False
