"""Where CMS puts the claim facts in FHIR JSON, and defensive accessors for walking it.

Systems from Blue Button / BFD (shared/cms-bulk-apis.md §4) and AB2D's "Claims data details" page.
Every accessor returns None (or an empty list) for a shape it does not expect: a malformed
resource becomes a reject row with a reason, never an exception out of the curation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

BB = "https://bluebutton.cms.gov/resources"
CLAIM_GROUP = f"{BB}/identifier/claim-group"  # not .../variables/clm_grp_id (BFD fixtures)
CLAIM_ID = f"{BB}/variables/clm_id"
PDE_ID = f"{BB}/variables/pde_id"  # Part D events carry pde_id instead of clm_id
EOB_TYPE = f"{BB}/codesystem/eob-type"
CURRENCY = f"{BB}/codesystem/identifier-currency"
US_MBI = "http://hl7.org/fhir/sid/us-mbi"
# AB2D's per-EOB MBI extension (libs/ab2d-fhir ExtensionUtils.createMbiExtension)
IDENTIFIER_EXTENSION = "http://hl7.org/fhir/StructureDefinition/elementdefinition-identifier"

Json = Mapping[str, Any]


def mapping(value: object) -> Json | None:
    return value if isinstance(value, Mapping) else None


def items(value: object) -> Iterator[Json]:
    """The objects of a JSON array (anything else in it, or a non-array, yields nothing)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def path(resource: Json, *keys: str) -> object:
    node: object = resource
    for key in keys:
        found = mapping(node)
        if found is None:
            return None
        node = found.get(key)
    return node


def reference_id(reference: object, resource_type: str) -> str | None:
    """``Patient/-1000`` (or an absolute URL ending so) -> ``-1000``."""
    value = text(path(reference, "reference")) if isinstance(reference, Mapping) else None
    if value is None:
        return None
    marker = f"{resource_type}/"
    if marker not in value:
        return None
    return text(value.rsplit(marker, 1)[1].split("/", 1)[0])


def currency(extensions: object) -> str | None:
    """``current`` | ``historic`` from an identifier-currency extension among ``extensions``."""
    for extension in items(extensions):
        if extension.get("url") == CURRENCY:
            return text(path(extension, "valueCoding", "code"))
    return None
