"""FHIR JSON for the synthetic records, shaped like Blue Button (BFD) output: STU3 for BCDA/AB2D v1,
R4 (CARIN BB) for v2/v3. Only the fields a pipeline keys on are faithful; the rest is plausible bulk.
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
_PROFILE = {
    "pde": "C4BB-ExplanationOfBenefit-Pharmacy",
    "inpatient": "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
}
_ICD = ("E119", "I10", "E785", "J449", "N183", "I2510", "M179", "F329", "K219", "G4733", "Z7901", "R51")
_HCPCS = ("99213", "99214", "80053", "85025", "93000", "71046", "36415", "G0439", "97110", "J1100")
Json = dict[str, Any]


def instant(moment: datetime) -> str:
    """BFD's meta.lastUpdated style: milliseconds and an explicit offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def dumps(resource: Json) -> bytes:
    return _ENCODER.encode(resource).encode()


def _meta(revision: Revision, profile: str | None = None, tags: list[Json] | None = None) -> Json:
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
    current = _mbi_identifier(bene.mbi, "current", r4)
    if r4:
        current["period"] = {"start": "2020-01-01"}
    identifiers.append(current)
    if bene.historic_mbi:
        identifiers.append(_mbi_identifier(bene.historic_mbi, "historic", r4))
    year = 1930 + rng.randrange(60)
    return {
        "resourceType": "Patient",
        "id": bene.bene_id,
        "meta": _meta(revision, "C4BB-Patient" if r4 else None),
        "identifier": identifiers,
        "name": [{"use": "usual", "family": f"Doe{bene.index}", "given": ["Jane" if bene.index % 2 else "John"]}],
        "gender": "female" if bene.index % 2 else "male",
        "birthDate": f"{year}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
        "address": [{"district": "999", "state": "MD", "postalCode": f"{rng.randrange(20000, 22000)}"}],
    }


def coverage(bene: Beneficiary, revision: Revision, r4: bool) -> Json:
    part = revision.id.split("-")[1].upper()
    rng = seeded(revision.key)
    resource: Json = {
        "resourceType": "Coverage",
        "id": revision.id,
        "meta": _meta(revision, "C4BB-Coverage" if r4 else None),
        "extension": [
            {
                "url": f"{BB}/variables/ms_cd",
                "valueCoding": {"system": f"{BB}/variables/ms_cd", "code": "10", "display": "Aged without ESRD"},
            },
            {"url": f"{BB}/variables/rfrnc_yr", "valueDate": str(revision.last_updated.year)},
        ]
        + [
            {
                "url": f"{BB}/variables/buyin{month:02d}",
                "valueCoding": {"system": f"{BB}/variables/buyin{month:02d}", "code": str(rng.randrange(4))},
            }
            for month in range(1, 13)
        ],
        "status": "active",
        "type": {"coding": [{"system": "Medicare", "code": f"Part {part}"}]},
        "payor": [{"identifier": {"value": "Centers for Medicare and Medicaid Services"}}],
        "beneficiary": {"reference": f"Patient/{bene.bene_id}"},
    }
    if r4:
        resource["class"] = [{"type": {"coding": [{"code": "plan"}]}, "value": f"Part {part}", "name": f"Part {part}"}]
        resource["subscriberId"] = bene.mbi
        resource["relationship"] = {"coding": [{"code": "self", "display": "Self"}]}
    else:
        resource["grouping"] = {"subGroup": "Medicare", "subPlan": f"Part {part}"}
    return resource


def _claim_identifiers(revision: Revision, r4: bool) -> list[Json]:
    system = "pde_id" if revision.claim_type == "pde" else "clm_id"
    ids: list[Json] = [
        {"system": f"{BB}/variables/{system}", "value": revision.clm_id},
        {"system": f"{BB}/identifier/claim-group", "value": revision.group_id},
    ]
    if revision.claim_type == "pde":
        ids.append({"system": f"{BB}/variables/rx_srvc_rfrnc_num", "value": revision.clm_id[-6:]})
    if r4:
        for identifier in ids:
            identifier["type"] = {"coding": [{"system": C4BB_ID_TYPE, "code": "uc"}]}
    return ids


def _items(rng: random.Random, served: str, count: int) -> list[Json]:
    items = []
    for sequence in range(1, count + 1):
        amount = round(rng.uniform(15, 900), 2)
        items.append(
            {
                "sequence": sequence,
                "diagnosisSequence": [1 + rng.randrange(2)],
                "service": {
                    "coding": [
                        {"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs", "code": rng.choice(_HCPCS)}
                    ]
                },
                "servicedDate": served,
                "quantity": {"value": 1 + rng.randrange(3)},
                "adjudication": [
                    {
                        "category": {
                            "coding": [{"system": f"{BB}/codesystem/adjudication", "code": f"{BB}/variables/{name}"}]
                        },
                        "amount": {"value": value, "system": "urn:iso:std:iso:4217", "code": "USD"},
                    }
                    for name, value in (
                        ("line_nch_pmt_amt", round(amount * 0.8, 2)),
                        ("line_coinsrnc_amt", round(amount * 0.2, 2)),
                        ("line_sbmtd_chrg_amt", amount),
                    )
                ],
            }
        )
    return items


def eob(bene: Beneficiary, revision: Revision, r4: bool, tags: bool = False, mbi_extension: bool = False) -> Json:
    """An ExplanationOfBenefit. `tags`: BCDA v3 System-Type/Final-Action; `mbi_extension`: AB2D's."""
    rng = seeded(revision.key)
    served = revision.service_date.isoformat() if revision.service_date else ""
    claim_type = revision.claim_type
    tag_list = None
    if tags:
        system = "DDPS" if claim_type == "pde" else "NationalClaimsHistory"
        tag_list = [
            {"system": SYSTEM_TYPE, "code": system},
            {"system": FINAL_ACTION, "code": "FinalAction" if revision.status == "active" else "NotFinalAction"},
        ]
    profile = _PROFILE.get(claim_type, "C4BB-ExplanationOfBenefit-Professional-NonClinician") if r4 else None
    total = round(rng.uniform(50, 4000), 2)
    resource: Json = {
        "resourceType": "ExplanationOfBenefit",
        "id": revision.id,
        "meta": _meta(revision, profile, tag_list),
    }
    if mbi_extension:
        resource["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/elementdefinition-identifier",
                "valueIdentifier": {
                    "system": "http://hl7.org/fhir/sid/us-mbi",
                    "value": bene.mbi,
                    "extension": [{"url": CURRENCY, "valueCoding": {"code": "current"}}],
                },
            }
        ]
    resource |= {
        "identifier": _claim_identifiers(revision, r4),
        "status": revision.status,
        "type": {
            "coding": [
                {"system": f"{BB}/codesystem/eob-type", "code": claim_type.upper()},
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"},
            ]
        },
        "patient": {"reference": f"Patient/{bene.bene_id}"},
        "billablePeriod": {"start": served, "end": served},
        "provider": {
            "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": str(rng.randrange(10**9, 10**10))}
        },
        "outcome": "complete",
        "insurance": [
            {"coverage": {"reference": f"Coverage/part-{'d' if claim_type == 'pde' else 'b'}-{bene.bene_id}"}}
        ],
        "diagnosis": [
            {
                "sequence": sequence,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": rng.choice(_ICD)}]
                },
                "type": [
                    {
                        "coding": [
                            {
                                "system": f"{BB}/codesystem/diagnosis-type",
                                "code": "principal" if sequence == 1 else "other",
                            }
                        ]
                    }
                ],
            }
            for sequence in range(1, 2 + rng.randrange(4))
        ],
        "item": _items(rng, served, 1 + rng.randrange(2)),
        "payment": {"amount": {"value": round(total * 0.8, 2), "system": "urn:iso:std:iso:4217", "code": "USD"}},
        "total": [{"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": total, "currency": "USD"}}],
    }
    if r4:
        resource["use"] = "claim"
        resource["created"] = instant(revision.last_updated)
        resource["insurer"] = {"identifier": {"value": "CMS"}}
    return resource


def partial_claim(bene: Beneficiary, revision: Revision, response: bool) -> Json:
    """BCDA v2's partially adjudicated (FISS/MCS) Claim and ClaimResponse."""
    rng = seeded(revision.key)
    served = revision.service_date.isoformat() if revision.service_date else ""
    source = {"f": "fiss", "m": "mcs"}[revision.claim_type]
    common: Json = {
        "id": revision.id,
        "meta": _meta(revision),
        "identifier": [{"system": f"https://bluebutton.cms.gov/fhir/sid/{source}-claim-id", "value": revision.clm_id}],
        "status": "active",
        "patient": {"reference": f"Patient/{bene.bene_id}"},
        "created": instant(revision.last_updated),
        "use": "claim",
    }
    if response:
        return (
            {"resourceType": "ClaimResponse"}
            | common
            | {
                "outcome": "partial",
                "request": {"reference": f"Claim/{revision.id}"},
                "insurer": {"identifier": {"value": "CMS"}},
            }
        )
    return (
        {"resourceType": "Claim"}
        | common
        | {
            "type": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]
            },
            "billablePeriod": {"start": served, "end": served},
            "provider": {"identifier": {"value": str(rng.randrange(10**9, 10**10))}},
            "priority": {"coding": [{"code": "normal"}]},
            "total": {"value": round(rng.uniform(50, 4000), 2), "currency": "USD"},
        }
    )


def render(bene: Beneficiary, revision: Revision, r4: bool, tags: bool = False, mbi_extension: bool = False) -> bytes:
    """One NDJSON line (without its newline) for a revision."""
    kind = revision.resource_type
    if kind == "ExplanationOfBenefit":
        return dumps(eob(bene, revision, r4, tags, mbi_extension))
    if kind == "Patient":
        return dumps(patient(bene, revision, r4))
    if kind == "Coverage":
        return dumps(coverage(bene, revision, r4))
    return dumps(partial_claim(bene, revision, kind == "ClaimResponse"))


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
