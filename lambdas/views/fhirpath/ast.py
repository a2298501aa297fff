"""The FHIRPath syntax tree: what the parser builds and the compiler reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Literal:
    value: object
    #: string | integer | decimal | boolean | date | dateTime | time | quantity
    kind: str


@dataclass(frozen=True, slots=True)
class EmptyCollection:
    """``{}``"""


@dataclass(frozen=True, slots=True)
class This:
    """``$this``"""


@dataclass(frozen=True, slots=True)
class IndexVariable:
    """``$index`` (inside ``where`` / ``select`` / ``exists``...)"""


@dataclass(frozen=True, slots=True)
class Constant:
    """``%name``: a ViewDefinition constant, ``%rowIndex``, ``%resource``..."""

    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """``base.name``; ``base`` None: a name read from the focus (``$this``)."""

    base: Node | None
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """``base.name(args)``; ``base`` None: a function of the focus."""

    base: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class TypeName:
    """A type specifier (``ofType(Quantity)``, ``is FHIR.string``): its last name segment."""

    name: str


@dataclass(frozen=True, slots=True)
class Indexer:
    base: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # + | -
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class TypeOperation:
    op: str  # is | as
    operand: Node
    type: TypeName


Node = (
    Literal
    | EmptyCollection
    | This
    | IndexVariable
    | Constant
    | Member
    | Call
    | TypeName
    | Indexer
    | Unary
    | Binary
    | TypeOperation
)
