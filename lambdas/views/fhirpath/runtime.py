"""What compiled FHIRPath calls at run time: collections are Python lists of JSON values (dict,
list items, str, int, float, bool), exactly as the JSON parser made them; nothing is copied or
wrapped. Helpers never mutate their inputs (a child list may be the resource's own list).

Three-valued logic: a boolean-context result is ``True``, ``False`` or ``None`` (the empty
collection).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from views.errors import ViewEvaluationError
from views.fhirpath import temporal

Collection = list[Any]
EMPTY: Collection = []

#: FHIR R4 choice elements ([x]) a path may name without a type: ``value`` finds ``valueQuantity``.
CHOICE_NAMES = frozenset({
    "value", "deceased", "multipleBirth", "effective", "onset", "abatement", "occurrence", "serviced",
    "location", "diagnosis", "procedure", "timing", "allowed", "used", "medication", "reported", "born",
    "age", "defaultValue", "fixed", "pattern", "minValue", "maxValue", "answer", "product", "asNeeded",
    "rate", "dose", "scheduled", "performed", "collected", "identified", "doseNumber", "seriesDoses",
    "probability",
})  # fmt: skip


def _choice(item: dict[str, Any], name: str) -> Any:
    size = len(name)
    for key, value in item.items():
        if len(key) > size and key.startswith(name) and key[size].isupper():
            return value
    return None


def child1(item: Any, name: str) -> Collection:
    """One item's ``name`` as a collection (a choice element named without its type: its one
    ``name[x]``)."""
    if type(item) is dict:
        value = item.get(name)
        if value is None and (name not in CHOICE_NAMES or (value := _choice(item, name)) is None):
            return EMPTY
        return value if type(value) is list else [value]
    return EMPTY


def child(collection: Collection, name: str) -> Collection:
    if len(collection) == 1:
        return child1(collection[0], name)
    out: Collection = []
    for item in collection:
        if type(item) is dict:
            value = item.get(name)
            if value is None and (name not in CHOICE_NAMES or (value := _choice(item, name)) is None):
                continue
            if type(value) is list:
                out.extend(value)
            else:
                out.append(value)
    return out


def path1(item: Any, names: Sequence[str]) -> Collection:
    """``a.b.c`` from one item: a walk down single objects until a list (the common case costs
    one call)."""
    node = item
    for index, name in enumerate(names):
        if type(node) is not dict:
            return EMPTY
        value = node.get(name)
        if value is None and (name not in CHOICE_NAMES or (value := _choice(node, name)) is None):
            return EMPTY
        if type(value) is list:
            rest = names[index + 1 :]
            return path(value, rest) if rest else value
        node = value
    return [node]


def path2(item: Any, first: str, second: str) -> Collection:
    """``a.b`` from one item: :func:`path1` for the commonest length, without its loop."""
    if type(item) is not dict:
        return EMPTY
    value = item.get(first)
    if value is None and (first not in CHOICE_NAMES or (value := _choice(item, first)) is None):
        return EMPTY
    if type(value) is dict:
        found = value.get(second)
        if found is None and (second not in CHOICE_NAMES or (found := _choice(value, second)) is None):
            return EMPTY
        return found if type(found) is list else [found]
    if type(value) is list:
        return child(value, second)
    return EMPTY


Tests = tuple[tuple[str, frozenset[str]], ...]


def _passes(item: dict[str, Any], tests: Tests) -> bool:
    """Each test's member is one of its strings (or a one-item list of one: singleton equality)."""
    for key, accepted in tests:
        value = item.get(key)
        if type(value) is str:
            if value not in accepted:
                return False
        elif not (type(value) is list and len(value) == 1 and type(value[0]) is str and value[0] in accepted):
            return False
    return True


def matches_one(collection: Collection, tests: Tests) -> bool:
    """``truth(collection.where(m1 = ... and m2 = ...))`` without the list: the items whose member
    ``key`` is one of ``accepted`` for every test; one is true, none false, several an error."""
    found = 0
    for item in collection:
        if type(item) is dict and _passes(item, tests):
            found += 1
    if found > 1:
        raise ViewEvaluationError(f"a boolean criteria gave {found} items")
    return found == 1


def where_path_matches(collection: Collection, names: tuple[str, ...], tests: Tests) -> Collection:
    """``collection.where(a.b.where(m1 = ... and ...))`` in one call: the items whose ``a.b`` has
    exactly one match (several are an error, as the criteria's singleton evaluation says). The
    commonest filter of CMS data (adjudication by category coding, careTeam by role coding): the
    walk and the tests are inline for the common shapes, :func:`path1` / :func:`_passes` otherwise."""
    out: Collection = []
    first, second = (names[0], names[1]) if len(names) == 2 else ("", "")
    key1, accepted1 = tests[0]
    key2, accepted2 = tests[1] if len(tests) == 2 else ("", frozenset())
    two, more = len(tests) == 2, len(tests) > 2
    for item in collection:
        children: Any = None
        if first and type(item) is dict:
            value = item.get(first)
            if type(value) is dict:
                children = value.get(second)
                if type(children) is not list:
                    children = None
        if children is None:
            children = path1(item, names)
        found = 0
        for child_item in children:
            if type(child_item) is not dict:
                continue
            value1 = child_item.get(key1)
            if more or type(value1) is not str:
                found += _passes(child_item, tests)
            elif value1 in accepted1:
                if not two:
                    found += 1
                    continue
                value2 = child_item.get(key2)
                found += value2 in accepted2 if type(value2) is str else _passes(child_item, tests)
        if found == 1:
            out.append(item)
        elif found > 1:
            raise ViewEvaluationError(f"a boolean criteria gave {found} items")
    return out


def path(collection: Collection, names: Sequence[str]) -> Collection:
    if len(collection) == 1:
        return path1(collection[0], names)
    for name in names:
        if not collection:
            return EMPTY
        collection = child(collection, name)
    return collection


# ---- values and booleans


def one(collection: Collection, column: str) -> Any:
    """A non-collection column's value: none, or the only one (several are an error, as the spec says)."""
    if not collection:
        return None
    if len(collection) == 1:
        return collection[0]
    raise ViewEvaluationError(
        f"column {column} has {len(collection)} values but is not a collection (collection: true, or pick one)"
    )


def single(collection: Collection, what: str) -> Any:
    if len(collection) == 1:
        return collection[0]
    if not collection:
        return None
    raise ViewEvaluationError(f"{what} needs a single item but has {len(collection)}")


def truth(collection: Collection) -> bool:
    """The criteria of ``where`` / ``exists`` / ``all``: singleton evaluation (FHIRPath §4.5), empty
    is false, a non-boolean single item is true."""
    if not collection:
        return False
    if len(collection) == 1:
        value = collection[0]
        return value if type(value) is bool else True
    raise ViewEvaluationError(f"a boolean criteria gave {len(collection)} items")


def boolean3(collection: Collection) -> bool | None:
    """An operand of ``and`` / ``or`` / ``not()``: True, False or None (empty)."""
    if not collection:
        return None
    if len(collection) == 1:
        value = collection[0]
        return value if type(value) is bool else True
    raise ViewEvaluationError(f"a boolean operand gave {len(collection)} items")


def strict_boolean(collection: Collection, what: str) -> bool:
    """A ViewDefinition ``where``: empty or false drops the resource; anything but a boolean is an error."""
    if not collection:
        return False
    if len(collection) == 1 and type(collection[0]) is bool:
        return bool(collection[0])
    shown = collection[0] if len(collection) == 1 else f"{len(collection)} items"
    raise ViewEvaluationError(f"{what} must be boolean, got {shown!r}")


def wrap(value: Any) -> Collection:
    return EMPTY if value is None else [value]


def and3(left: bool | None, right: bool | None) -> bool | None:
    if left is False or right is False:
        return False
    if left is None or right is None:
        return None
    return True


def or3(left: bool | None, right: bool | None) -> bool | None:
    if left is True or right is True:
        return True
    if left is None or right is None:
        return None
    return False


def xor3(left: bool | None, right: bool | None) -> bool | None:
    if left is None or right is None:
        return None
    return left != right


def implies3(left: bool | None, right: bool | None) -> bool | None:
    if left is False or right is True:
        return True
    if left is None or right is None:
        return None
    return False


def not3(value: bool | None) -> bool | None:
    return None if value is None else not value


# ---- equality and comparison


def _same(left: Any, right: Any) -> bool:
    if type(left) is bool or type(right) is bool:
        return type(left) is type(right) and left == right
    return bool(left == right)


def equal(left: Collection, right: Collection) -> bool | None:
    if not left or not right:
        return None
    if len(left) == 1 and len(right) == 1:
        return _same(left[0], right[0])
    return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))


def equal_value(left: Collection, value: Any) -> bool | None:
    """``path = 'literal'``: the common case, without a list for the literal."""
    if not left:
        return None
    if len(left) == 1:
        return _same(left[0], value)
    return False


def equal_temporal(left: Collection, right: Collection) -> bool | None:
    """``=`` where one side is a date/time (typed literal or constant): compared as FHIRPath
    dates, not text; different precisions are unknown (empty)."""
    if not left or not right:
        return None
    if len(left) != 1 or len(right) != 1:
        return equal(left, right)
    return temporal.equal(left[0], right[0])


def equivalent(left: Collection, right: Collection) -> bool:
    if not left and not right:
        return True
    if len(left) != len(right):
        return False

    def norm(value: Any) -> Any:
        return " ".join(value.lower().split()) if isinstance(value, str) else value

    return all(_same(norm(a), norm(b)) for a, b in zip(left, right, strict=True))


def compare(left: Collection, right: Collection, op: str, temporal_kind: bool = False) -> bool | None:
    if not left or not right:
        return None
    a, b = single(left, f"'{op}'"), single(right, f"'{op}'")
    if temporal_kind or (isinstance(a, str) and isinstance(b, str) and temporal.looks_temporal(a, b)):
        order = temporal.order(a, b)
        if order is None:
            return None
    elif (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        order = (a > b) - (a < b)
    else:
        raise ViewEvaluationError(f"cannot compare {type(a).__name__} with {type(b).__name__} using '{op}'")
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) or isinstance(value, Decimal)


# ---- arithmetic (exact: decimals as Decimal, results back to int / float)


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if type(value) is float else Decimal(value)


def _number_out(value: Decimal, integral: bool) -> Any:
    if integral and value == value.to_integral_value():
        return int(value)
    return float(value)


def _divide(x: Decimal, y: Decimal) -> Decimal:
    return x / y


def _integer_divide(x: Decimal, y: Decimal) -> Decimal:
    return (x / y).to_integral_value(rounding="ROUND_DOWN")


_ARITHMETIC: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": Decimal.__add__,
    "-": Decimal.__sub__,
    "*": Decimal.__mul__,
    "/": _divide,
    "div": _integer_divide,
    "mod": Decimal.__mod__,
}


def arithmetic(left: Collection, right: Collection, op: str) -> Collection:
    if not left or not right:
        return EMPTY
    a, b = single(left, f"'{op}'"), single(right, f"'{op}'")
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return [a + b]
    if not (_is_number(a) and _is_number(b)) or type(a) is bool or type(b) is bool:
        raise ViewEvaluationError(f"'{op}' needs numbers, got {type(a).__name__} and {type(b).__name__}")
    x, y = _decimal(a), _decimal(b)
    if op in ("/", "div", "mod") and y == 0:
        return EMPTY
    try:
        result = _ARITHMETIC[op](x, y)
    except InvalidOperation as error:
        raise ViewEvaluationError(f"'{op}': {error}") from error
    # `/` is always a decimal; `div` always an integer; the others keep integers integers
    integral = op == "div" or (op != "/" and type(a) is int and type(b) is int)
    return [_number_out(result, integral)]


def concatenate(left: Collection, right: Collection) -> Collection:
    """``&``: empty operands are empty strings."""
    a = single(left, "'&'") if left else ""
    b = single(right, "'&'") if right else ""
    return [f"{a}{b}"]


def negate(collection: Collection) -> Collection:
    if not collection:
        return EMPTY
    value = single(collection, "unary '-'")
    if not _is_number(value) or type(value) is bool:
        raise ViewEvaluationError(f"unary '-' needs a number, got {type(value).__name__}")
    return [-value]


def union(left: Collection, right: Collection) -> Collection:
    out: Collection = []
    for value in (*left, *right):
        if not any(_same(value, seen) for seen in out):
            out.append(value)
    return out


def membership(item: Collection, collection: Collection) -> bool | None:
    if not item:
        return None
    value = single(item, "'in'")
    return any(_same(value, other) for other in collection)


# ---- functions


def index(collection: Collection, position: Collection) -> Collection:
    if not position:
        return EMPTY
    at = single(position, "an indexer")
    if type(at) is not int:
        raise ViewEvaluationError(f"an index must be an integer, got {at!r}")
    return [collection[at]] if 0 <= at < len(collection) else EMPTY


def first(collection: Collection) -> Collection:
    return collection[:1]


def last(collection: Collection) -> Collection:
    return collection[-1:]


def integer_argument(collection: Collection, function: str) -> int:
    value = single(collection, f"{function}()")
    if type(value) is not int:
        raise ViewEvaluationError(f"{function}() needs an integer argument, got {value!r}")
    return value


def distinct(collection: Collection) -> Collection:
    return union(collection, EMPTY)


def string_argument(collection: Collection, function: str) -> str | None:
    value = single(collection, f"{function}()")
    if value is not None and not isinstance(value, str):
        raise ViewEvaluationError(f"{function}() needs a string argument, got {value!r}")
    return value


def join(collection: Collection, separator: str) -> Collection:
    return [separator.join(str_value(value) for value in collection)]


def str_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        return repr(value)
    raise ViewEvaluationError(f"cannot make a string of {type(value).__name__}")


def string_function(collection: Collection, function: str, operation: Callable[[str], Any]) -> Collection:
    if not collection:
        return EMPTY
    value = single(collection, f"{function}()")
    if not isinstance(value, str):
        raise ViewEvaluationError(f"{function}() needs a string, got {type(value).__name__}")
    return wrap(operation(value))


def substring(collection: Collection, start: Collection, length: Collection | None) -> Collection:
    if not collection or not start:
        return EMPTY
    text = single(collection, "substring()")
    begin = integer_argument(start, "substring")
    if not isinstance(text, str) or begin < 0 or begin >= len(text):
        return EMPTY
    if length is None or not length:
        return [text[begin:]]
    return [text[begin : begin + max(0, integer_argument(length, "substring"))]]


def matches(collection: Collection, pattern: str | None) -> Collection:
    if not collection or pattern is None:
        return EMPTY
    value = single(collection, "matches()")
    return [re.search(pattern, value, re.DOTALL) is not None]


def to_string(collection: Collection) -> Collection:
    if not collection:
        return EMPTY
    value = single(collection, "toString()")
    return [str_value(value)] if not isinstance(value, dict | list) else EMPTY


def to_integer(collection: Collection) -> Collection:
    if not collection:
        return EMPTY
    value = single(collection, "toInteger()")
    if type(value) is int:
        return [value]
    if type(value) is bool:
        return [int(value)]
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        return [int(value)]
    return EMPTY


def to_decimal(collection: Collection) -> Collection:
    if not collection:
        return EMPTY
    value = single(collection, "toDecimal()")
    if type(value) in (int, float):
        return [value]
    if type(value) is bool:
        return [1.0 if value else 0.0]
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        return [float(value)]
    return EMPTY


_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "positiveInt": (int,),
    "unsignedInt": (int,),
    "integer64": (int, str),
    "decimal": (float, int),
}
_STRING_TYPES = frozenset({
    "string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown", "base64Binary",
    "date", "dateTime", "instant", "time", "xhtml",
})  # fmt: skip


def is_type(value: Any, type_name: str) -> bool:
    """What a JSON value can tell of its FHIR type: primitives by their JSON type, resources by
    ``resourceType``; a complex value (Coding, Quantity...) is only known from its element's name,
    which the compiler reads (``value.ofType(Quantity)`` reads ``valueQuantity``)."""
    name = type_name[0].lower() + type_name[1:] if type_name[:1].isupper() and type_name in (
        "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time") else type_name  # fmt: skip
    if name in _PRIMITIVES:
        wanted = _PRIMITIVES[name]
        return type(value) in wanted and (type(value) is not bool or bool in wanted)
    if name in _STRING_TYPES:
        return isinstance(value, str)
    if type(value) is dict:
        kind = value.get("resourceType")
        return kind == type_name if kind is not None else type_name[:1].isupper()
    return False


def of_type(collection: Collection, type_name: str) -> Collection:
    return [value for value in collection if is_type(value, type_name)]


def extension(collection: Collection, url: str | None) -> Collection:
    out: Collection = []
    for item in collection:
        if type(item) is dict:
            for entry in item.get("extension") or EMPTY:
                if type(entry) is dict and entry.get("url") == url:
                    out.append(entry)
    return out


def resource_key(collection: Collection) -> Collection:
    """``getResourceKey()``: the resource's id (joins with ``getReferenceKey()``)."""
    out: Collection = []
    for item in collection:
        if type(item) is dict and item.get("resourceType") and isinstance(item.get("id"), str):
            out.append(item["id"])
    return out


_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def reference_key(collection: Collection, type_name: str | None) -> Collection:
    """``getReferenceKey([type])``: the id a Reference points at (relative or absolute URL),
    when it points at that type; a contained (``#``) or urn reference has no key."""
    out: Collection = []
    for item in collection:
        reference = item.get("reference") if type(item) is dict else None
        if not isinstance(reference, str):
            continue
        match = _REFERENCE.search(reference)
        if match and (type_name is None or match.group(1) == type_name):
            out.append(match.group(2))
    return out


def boundary(collection: Collection, high: bool, kind: str | None = None) -> Collection:
    if not collection:
        return EMPTY
    value = single(collection, "highBoundary()" if high else "lowBoundary()")
    return wrap(temporal.boundary(value, high, kind))


def repeat_nodes(focus: Any, steps: Sequence[Callable[[Any], Collection]]) -> Collection:
    """The ``repeat`` of a select: the focus's descendants along the paths, depth first, each node
    before its own descendants (the order the suite expects), the focus itself not included."""
    out: Collection = []

    def visit(node: Any) -> None:
        for step in steps:
            for found in step(node):
                out.append(found)
                visit(found)

    visit(focus)
    return out


def repeat_function(collection: Collection, step: Callable[[Any], Collection]) -> Collection:
    """FHIRPath ``repeat(expr)``: breadth of each item, all levels, without duplicates."""
    out: Collection = []
    pending = list(collection)
    while pending:
        found = step(pending.pop(0))
        for value in found:
            if not any(value is seen for seen in out):
                out.append(value)
                pending.append(value)
    return out


def typed_child(collection: Collection, name: str, typed: str, type_name: str) -> Collection:
    """``name.ofType(T)``: the choice element ``nameT``, else ``name`` when its JSON is of type T."""
    out: Collection = []
    for item in collection:
        if type(item) is not dict:
            continue
        value = item.get(typed)
        if value is None:
            value = item.get(name)
            if value is None:
                continue
            out.extend(v for v in (value if type(value) is list else [value]) if is_type(v, type_name))
        elif type(value) is list:
            out.extend(value)
        else:
            out.append(value)
    return out


def define_variable(
    cell: list[Collection], collection: Collection, step: Callable[[Collection], Collection] | None
) -> Collection:
    """``defineVariable(name[, expr])``: the variable's cell gets expr of the input (or the input),
    and the input passes through. One evaluation at a time per compiled view (its cells are its own)."""
    cell[0] = collection if step is None else step(collection)
    return collection
