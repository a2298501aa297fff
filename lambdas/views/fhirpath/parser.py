"""A FHIRPath (N1, the subset SQL on FHIR v2 needs and a little more) tokenizer and parser.

``parse(text)`` returns the syntax tree of :mod:`views.fhirpath.ast` or raises
:class:`FhirPathSyntaxError` naming the position. Operator precedence follows the FHIRPath
grammar, from the tightest: ``.`` and ``[]``; unary ``+ -``; ``* / div mod``; ``+ - &``;
``is as``; ``|``; ``< <= > >=``; ``= ~ != !~``; ``in contains``; ``and``; ``or xor``; ``implies``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from views.fhirpath.ast import (
    Binary,
    Call,
    Constant,
    EmptyCollection,
    Indexer,
    IndexVariable,
    Literal,
    Member,
    Node,
    This,
    TypeName,
    TypeOperation,
    Unary,
)


class FhirPathSyntaxError(ValueError):
    """The expression is not FHIRPath (or uses syntax this engine does not read)."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident | string | number | date | time | const | var | op | end
    text: str
    position: int
    value: object = None


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<datetime>@\d{4}(?:-\d{2}(?:-\d{2})?)?(?:T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<time>@T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<quoted>`(?:[^`\\]|\\.)*`)
  | (?P<const>%(?:[A-Za-z_][A-Za-z0-9_]*|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`))
  | (?P<var>\$(?:this|index|total))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|!~|[-+*/&|<>=~.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)")


def _unescape(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return chr(int(match.group(1), 16))
        return _ESCAPES.get(match.group(2), match.group(2))

    return _UNICODE.sub(replace, body)


def _shown(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FhirPathSyntaxError(f"unexpected {text[position]!r} at position {position}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "quoted":
            tokens.append(Token("ident", raw, position, _unescape(raw[1:-1])))
        elif kind == "string":
            tokens.append(Token("string", raw, position, _unescape(raw[1:-1])))
        elif kind == "const":
            name = raw[1:]
            if name[:1] in "'`":
                name = _unescape(name[1:-1])
            tokens.append(Token("const", raw, position, name))
        elif kind == "datetime":
            tokens.append(Token("date", raw, position, raw[1:]))
        elif kind == "time":
            tokens.append(Token("time", raw, position, raw[2:]))
        elif kind != "space":
            tokens.append(Token(kind, raw, position, raw))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# binary operators: text -> binding power (higher binds tighter)
_BINARY = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    "<=": 6,
    ">": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}
_UNARY_POWER = 11
_CALENDAR_UNITS = {
    "year", "years", "month", "months", "week", "weeks", "day", "days",
    "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds",
}  # fmt: skip


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.token
        if token.text != text or token.kind not in ("op", "ident"):
            raise FhirPathSyntaxError(f"expected {text!r} at position {token.position}, found {_shown(token)}")
        return self.advance()

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise FhirPathSyntaxError("empty expression")
        node = self.expression(0)
        if self.token.kind != "end":
            raise FhirPathSyntaxError(f"unexpected {self.token.text!r} at position {self.token.position}")
        return node

    def expression(self, min_power: int) -> Node:
        left = self.prefix()
        while True:
            token = self.token
            power = _BINARY.get(token.text) if token.kind in ("op", "ident") else None
            if power is None or power <= min_power:
                return left
            self.advance()
            if token.text in ("is", "as"):
                left = TypeOperation(token.text, left, self.type_specifier())
            else:
                left = Binary(token.text, left, self.expression(power))

    def prefix(self) -> Node:
        token = self.token
        if token.kind == "op" and token.text in ("+", "-"):
            self.advance()
            return Unary(token.text, self.expression(_UNARY_POWER - 1))
        return self.postfix(self.term())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.token
            if token.kind == "op" and token.text == ".":
                self.advance()
                node = self.invocation(node)
            elif token.kind == "op" and token.text == "[":
                self.advance()
                index = self.expression(0)
                self.expect("]")
                node = Indexer(node, index)
            else:
                return node

    def term(self) -> Node:  # noqa: PLR0911 - one return per kind of term
        token = self.token
        if token.kind == "op" and token.text == "(":
            self.advance()
            node = self.expression(0)
            self.expect(")")
            return node
        if token.kind == "op" and token.text == "{":
            self.advance()
            self.expect("}")
            return EmptyCollection()
        if token.kind == "string":
            self.advance()
            return Literal(token.value, "string")
        if token.kind == "number":
            self.advance()
            return self.number(token)
        if token.kind == "date":
            self.advance()
            text = str(token.value)
            return Literal(text, "dateTime" if "T" in text else "date")
        if token.kind == "time":
            self.advance()
            return Literal(str(token.value), "time")
        if token.kind == "const":
            self.advance()
            return Constant(str(token.value))
        if token.kind == "var":
            self.advance()
            if token.text == "$this":
                return This()
            if token.text == "$index":
                return IndexVariable()
            raise FhirPathSyntaxError(f"{token.text} is only defined in aggregate(), which is not supported")
        if token.kind == "ident" and token.text in ("true", "false") and not self._is_call():
            self.advance()
            return Literal(token.text == "true", "boolean")
        if token.kind == "ident":
            return self.invocation(None)
        raise FhirPathSyntaxError(f"unexpected {_shown(token)} at position {token.position}")

    def number(self, token: Token) -> Node:
        text = token.text
        value: object = float(text) if "." in text else int(text)
        # a quantity: 4 'mg', 2 days
        following = self.token
        if following.kind == "string" or (following.kind == "ident" and following.text in _CALENDAR_UNITS):
            self.advance()
            return Literal((value, following.value), "quantity")
        return Literal(value, "decimal" if "." in text else "integer")

    def _is_call(self) -> bool:
        following = self.tokens[self.index + 1]
        return following.kind == "op" and following.text == "("

    def invocation(self, base: Node | None) -> Node:
        token = self.token
        if token.kind == "var" and token.text == "$this":
            self.advance()
            return This() if base is None else base
        if token.kind != "ident":
            raise FhirPathSyntaxError(f"expected a name at position {token.position}, found {_shown(token)}")
        self.advance()
        name = str(token.value)
        if not (self.token.kind == "op" and self.token.text == "("):
            return Member(base, name)
        self.advance()
        args: list[Node] = []
        if not (self.token.kind == "op" and self.token.text == ")"):
            while True:
                args.append(self.type_argument() if name in _TYPE_FUNCTIONS else self.expression(0))
                if self.token.kind == "op" and self.token.text == ",":
                    self.advance()
                    continue
                break
        self.expect(")")
        return Call(base, name, tuple(args))

    def type_argument(self) -> Node:
        return self.type_specifier()

    def type_specifier(self) -> TypeName:
        token = self.token
        if token.kind != "ident":
            raise FhirPathSyntaxError(f"expected a type name at position {token.position}")
        self.advance()
        name = str(token.value)
        while self.token.kind == "op" and self.token.text == "." and self.tokens[self.index + 1].kind == "ident":
            self.advance()
            name = str(self.advance().value)  # FHIR.Patient, System.String: the last segment
        return TypeName(name)


#: functions whose argument is a type specifier, not an expression
_TYPE_FUNCTIONS = frozenset({"ofType", "is", "as", "getReferenceKey"})


def parse(text: str) -> Node:
    """The syntax tree of a FHIRPath expression."""
    if not isinstance(text, str):
        raise FhirPathSyntaxError(f"a FHIRPath expression must be a string, not {type(text).__name__}")
    return _Parser(text).parse()
