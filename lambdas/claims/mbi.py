"""Medicare Beneficiary Identifiers (MBIs): the current one and the historic ones.

Three placements occur (shared/cms-bulk-apis.md §2.6 and §4):
- AB2D: on the ExplanationOfBenefit itself, one top-level extension per MBI
  (``elementdefinition-identifier`` whose ``valueIdentifier`` has the us-mbi system and a nested
  identifier-currency extension; its valueCoding has no system).
- BCDA Patient, STU3 (v1): the currency extension on the identifier itself.
- BCDA Patient, R4 (v2/v3): the currency extension on ``identifier.type.coding[]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from claims.fhir import IDENTIFIER_EXTENSION, US_MBI, Json, currency, items, mapping, text


@dataclass(frozen=True, slots=True)
class Mbis:
    current: str | None
    historic: tuple[str, ...]


def _split(found: Iterable[tuple[str, str | None]]) -> Mbis:
    """(value, currency) pairs -> the current MBI and all others as historic, in data order.

    An MBI without a currency marker counts as current unless another one is marked current
    (the CMS sources always mark it; other servers may carry a bare us-mbi identifier)."""
    pairs = list(found)
    marked = [value for value, code in pairs if code == "current"]
    unmarked = [value for value, code in pairs if code is None]
    current = next(iter(marked or unmarked), None)
    return Mbis(current, tuple(dict.fromkeys(value for value, _ in pairs if value != current)))


def eob_mbis(eob: Json) -> Mbis:
    """AB2D's MBI extensions on an ExplanationOfBenefit (none on BCDA's EOBs)."""
    found: list[tuple[str, str | None]] = []
    for extension in items(eob.get("extension")):
        if extension.get("url") != IDENTIFIER_EXTENSION:
            continue
        identifier = mapping(extension.get("valueIdentifier"))
        value = text(identifier.get("value")) if identifier else None
        if identifier is not None and value and identifier.get("system") == US_MBI:
            found.append((value, currency(identifier.get("extension"))))
    return _split(found)


def patient_mbis(patient: Json) -> Mbis:
    """The us-mbi identifiers of a Patient, with their currency in either FHIR version's place."""
    found: list[tuple[str, str | None]] = []
    for identifier in items(patient.get("identifier")):
        value = text(identifier.get("value"))
        if identifier.get("system") != US_MBI or not value:
            continue
        code = currency(identifier.get("extension"))  # STU3
        if code is None:
            type_ = mapping(identifier.get("type"))
            for coding in items(type_.get("coding") if type_ else None):  # R4
                code = code or currency(coding.get("extension"))
        found.append((value, code))
    return _split(found)
