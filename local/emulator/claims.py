"""FHIR JSON for claims: ExplanationOfBenefit (all claim types) and BCDA v2's Claim/ClaimResponse."""

from __future__ import annotations

import random

from local.emulator.population import Beneficiary, Revision, seeded
from local.emulator.resources import (
    BB,
    C4BB_ID_TYPE,
    CURRENCY,
    FINAL_ACTION,
    HCPCS,
    ICD,
    PROFILE,
    SYSTEM_TYPE,
    Json,
    instant,
    meta,
)


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
                        {"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs", "code": rng.choice(HCPCS)}
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


def eob(
    bene: Beneficiary,
    revision: Revision,
    r4: bool,
    tags: bool = False,
    mbi_extension: bool = False,
    mbis: tuple[str, ...] = (),
) -> Json:
    """An ExplanationOfBenefit. `tags`: BCDA v3 System-Type/Final-Action; `mbi_extension`: AB2D's,
    with the beneficiary's MBIs as of the export (`mbis`: current, *historic)."""
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
    profile = PROFILE.get(claim_type, "C4BB-ExplanationOfBenefit-Professional-NonClinician") if r4 else None
    total = round(rng.uniform(50, 4000), 2)
    resource: Json = {
        "resourceType": "ExplanationOfBenefit",
        "id": revision.id,
        "meta": meta(revision, profile, tag_list),
    }
    if mbi_extension:
        # AB2D reports every MBI of the patient, current and historic (ExtensionUtils.createMbiExtension)
        known = mbis or (bene.mbi,)
        resource["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/elementdefinition-identifier",
                "valueIdentifier": {
                    "system": "http://hl7.org/fhir/sid/us-mbi",
                    "value": mbi,
                    "extension": [{"url": CURRENCY, "valueCoding": {"code": "current" if n == 0 else "historic"}}],
                },
            }
            for n, mbi in enumerate(known)
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
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": rng.choice(ICD)}]
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
        "meta": meta(revision),
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
