"""FHIR JSON helpers and the people resources (Patient, Coverage), shaped like Blue Button (BFD) output:
STU3 for BCDA/AB2D v1, R4 (CARIN BB) for v2/v3. Only the fields a pipeline keys on are faithful; the rest
is plausible bulk. Claims are in `claims`; `render` picks the builder for a revision.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

from local.emulator.population import Beneficiary, Revision, seeded

BB = "https://bluebutton.cms.gov/resources"
CURRENCY = f"{BB}/codesystem/identifier-currency"
C4BB_ID_TYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"
C4BB = "http://hl7.org/fhir/us/carin-bb/StructureDefinition"
SYSTEM_TYPE = "https://bluebutton.cms.gov/fhir/CodeSystem/System-Type"
FINAL_ACTION = "https://bluebutton.cms.gov/fhir/CodeSystem/Final-Action"
PROFILE = {
    "pde": "C4BB-ExplanationOfBenefit-Pharmacy",
    "inpatient": "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
    "institutional": "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
    "professional": "C4BB-ExplanationOfBenefit-Professional-NonClinician",
    "pharmacy": "C4BB-ExplanationOfBenefit-Pharmacy",
}
Json = dict[str, Any]


def instant(moment: datetime) -> str:
    """BFD's meta.lastUpdated style: milliseconds and an explicit offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def dumps(resource: Json) -> bytes:
    return _ENCODER.encode(resource).encode()


def meta(revision: Revision, profile: str | None = None, tags: list[Json] | None = None) -> Json:
    meta: Json = {"lastUpdated": instant(revision.last_updated)}
    if profile:
        meta["profile"] = [f"{C4BB}/{profile}"]
    if tags:
        meta["tag"] = tags
    return meta


def _mbi_identifier(mbi: str, currency: str, r4: bool) -> Json:
    coding = {"system": CURRENCY, "code": currency, "display": currency.title()}
    if r4:  # R4 puts the currency extension on identifier.type.coding[0]
        return {
            "type": {
                "coding": [
                    {
                        "extension": [{"url": CURRENCY, "valueCoding": coding}],
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "MC",
                        "display": "Patient's Medicare number",
                    }
                ]
            },
            "system": "http://hl7.org/fhir/sid/us-mbi",
            "value": mbi,
        }
    return {  # STU3 puts it on the identifier itself
        "extension": [{"url": CURRENCY, "valueCoding": coding}],
        "system": "http://hl7.org/fhir/sid/us-mbi",
        "value": mbi,
    }


def patient(bene: Beneficiary, revision: Revision, r4: bool) -> Json:
    rng = seeded(revision.key)
    bene_id: Json = {"system": f"{BB}/variables/bene_id", "value": bene.bene_id}
    identifiers = [bene_id]
    if r4:
        bene_id["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}
    else:
        identifiers.append({"system": f"{BB}/identifier/mbi-hash", "value": f"{rng.getrandbits(256):064x}"})
    # an MBI change is a Patient revision of its own; the first ones are the beneficiary's
    mbis = revision.mbis or ((bene.mbi, bene.historic_mbi) if bene.historic_mbi else (bene.mbi,))
    current = _mbi_identifier(mbis[0], "current", r4)
    if r4:
        current["period"] = {"start": "2020-01-01"}
    identifiers.append(current)
    identifiers += [_mbi_identifier(historic, "historic", r4) for historic in mbis[1:]]
    year = 1930 + rng.randrange(60)
    return {
        "resourceType": "Patient",
        "id": bene.bene_id,
        "meta": meta(revision, "C4BB-Patient" if r4 else None),
        "identifier": identifiers,
        "name": [{"use": "usual", "family": f"Doe{bene.index}", "given": ["Jane" if bene.index % 2 else "John"]}],
        "gender": "female" if bene.index % 2 else "male",
        "birthDate": f"{year}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
        "address": [{"district": "999", "state": "MD", "postalCode": f"{rng.randrange(20000, 22000)}"}],
    } | (
        {"deceasedDateTime": f"{revision.last_updated.year - 1}-{1 + rng.randrange(12):02d}-15"}
        if rng.random() < 0.02
        else {}
    )


def _monthly(rng: random.Random, name: str, codes: tuple[str, ...], gap: float) -> list[Json]:
    """buyin01-12 / dual_01-12: one code a month, the first code usually, another one for a run of
    months now and then (a gap in entitlement, a change of dual status)."""
    change_at = rng.randrange(1, 13) if rng.random() < gap else 13
    until = min(12, change_at + rng.randrange(1, 4))
    other = rng.choice(codes[1:])
    return [
        {
            "url": f"{BB}/variables/{name}{month:02d}",
            "valueCoding": {"system": f"{BB}/variables/{name}{month:02d}",
                            "code": other if change_at <= month <= until else codes[0]},
        }
        for month in range(1, 13)
    ]  # fmt: skip


def coverage(bene: Beneficiary, revision: Revision, r4: bool) -> Json:
    """A beneficiary's Part A/B/C/D, with BFD's monthly codes of the reference year: Medicare
    entitlement / state buy-in (Parts A and B; "0" is a month without entitlement) and Medicare-
    Medicaid dual eligibility ("**" none, "02", "04", "08"...)."""
    part = revision.id.split("-")[1].upper()
    rng = seeded(revision.key)
    year = revision.last_updated.year
    start = f"{year - 1 - rng.randrange(8)}-{1 + rng.randrange(12):02d}-01"
    extensions: list[Json] = [
        {
            "url": f"{BB}/variables/ms_cd",
            "valueCoding": {"system": f"{BB}/variables/ms_cd", "code": "10", "display": "Aged without ESRD"},
        },
        {"url": f"{BB}/variables/rfrnc_yr", "valueDate": str(year)},
    ]
    if part == "A":
        extensions.append(
            {"url": f"{BB}/variables/orec", "valueCoding": {"system": f"{BB}/variables/orec", "code": "0"}}
        )
    if part in ("A", "B"):
        extensions += _monthly(rng, "buyin", ("3", "0", "C", "1", "2"), 0.15)
    extensions += _monthly(rng, "dual_", ("**", "02", "04", "08"), 0.08)
    resource: Json = {
        "resourceType": "Coverage",
        "id": revision.id,
        "meta": meta(revision, "C4BB-Coverage" if r4 else None),
        "extension": extensions,
        "status": "active",
        "type": {"coding": [{"system": "Medicare", "code": f"Part {part}"}]},
        "payor": [{"identifier": {"value": "Centers for Medicare and Medicaid Services"}}],
        "beneficiary": {"reference": f"Patient/{bene.bene_id}"},
    }
    period: Json = {"start": start}
    if rng.random() < 0.05:  # the part ended (a termination): a gap from then on
        period["end"] = f"{year - 1}-{1 + rng.randrange(12):02d}-28"
    if part != "C":
        resource["period"] = period
    if r4:
        resource["class"] = [{"type": {"coding": [{"code": "plan"}]}, "value": f"Part {part}", "name": f"Part {part}"}]
        resource["subscriberId"] = bene.mbi
        resource["relationship"] = {"coding": [{"code": "self", "display": "Self"}]}
    else:
        resource["grouping"] = {"subGroup": "Medicare", "subPlan": f"Part {part}"}
    return resource


def error_outcome(resource_type: str, bene: Beneficiary, owner: str) -> bytes:
    """A line of a BCDA error file: STU3-style even on v2/v3, and it carries the MBI."""
    return dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "not-found",
                    "diagnostics": f"Error retrieving {resource_type} for beneficiary MBI {bene.mbi} in ACO {owner}",
                }
            ],
        }
    )


def deletion_bundle(resource_type: str, resource_id: str) -> bytes:
    """A line of a Bulk Data `deleted` file: a transaction Bundle whose entry is a DELETE request."""
    return dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": f"{resource_type}/{resource_id}"}}],
        }
    )
