"""FHIR JSON for claims: ExplanationOfBenefit (all claim types) and BCDA v2's Claim/ClaimResponse."""

from __future__ import annotations

import random
from datetime import date, timedelta

from local.emulator import eob_content as content
from local.emulator.population import Beneficiary, Revision, seeded
from local.emulator.resources import (
    BB,
    C4BB_ID_TYPE,
    CURRENCY,
    FINAL_ACTION,
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
    profile = PROFILE.get(claim_type, PROFILE[content.kind_of(claim_type)]) if r4 else None
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
    served_on = revision.service_date or date(2020, 1, 1)
    team = content.care_team(claim_type, rng, r4) if r4 or claim_type != "pde" else []
    icd9 = rng.random() < content.ICD9_SHARE
    lines = content.items(claim_type, rng, served_on, team, r4)
    kind = content.kind_of(claim_type)
    type_codings = [
        {"system": f"{BB}/codesystem/eob-type", "code": claim_type.upper()},
        {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": kind},
    ]
    if content.NCH_TYPE[claim_type]:
        type_codings.append({"system": f"{BB}/variables/nch_clm_type_cd", "code": content.NCH_TYPE[claim_type]})
    resource |= {
        "identifier": _claim_identifiers(revision, r4),
        "status": revision.status,
        "type": {"coding": type_codings},
        "patient": {"reference": f"Patient/{bene.bene_id}"},
        "billablePeriod": {"start": served, "end": served},
        "provider": _provider(claim_type, rng, r4, resource),
        "outcome": "complete",
        "careTeam": team,
        "supportingInfo": content.supporting_info(claim_type, rng, served_on, revision),
        "insurance": [
            {
                "focal": True,
                "coverage": {"reference": f"Coverage/part-{'d' if claim_type == 'pde' else 'b'}-{bene.bene_id}"},
            }
        ],
        "diagnosis": content.diagnoses(claim_type, rng, r4, icd9),
        "procedure": content.procedures(claim_type, rng, served_on, icd9),
        "item": lines,
    }
    submitted = content.submitted_total(lines)
    if claim_type == "pde":
        resource["payment"] = {"date": str(served_on + timedelta(days=14))}
    else:
        resource["payment"] = {"amount": {"value": content.paid_total(lines), "currency": "USD"}}
    if r4:
        resource["total"] = [{
            "category": {"coding": [
                {"system": "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication", "code": "submitted"},
                {"system": f"{BB}/codesystem/adjudication", "code": f"{BB}/variables/clm_tot_chrg_amt"},
            ]},
            "amount": {"value": submitted, "currency": "USD"},
        }]  # fmt: skip
        resource["benefitBalance"] = content.benefit_balance(claim_type, rng)
        resource["use"] = "claim"
        resource["created"] = instant(revision.last_updated)
        resource["insurer"] = {"identifier": {"value": "CMS"}}
    else:
        resource["totalCost"] = {"value": submitted, "system": "urn:iso:std:iso:4217", "code": "USD"}
    for key in ("careTeam", "supportingInfo", "diagnosis", "procedure"):
        if not resource[key]:
            del resource[key]
    return resource


def _provider(claim_type: str, rng: random.Random, r4: bool, resource: Json) -> Json:
    """Carrier/DME: the billing NPI; institutional: the facility, a contained Organization (its NPI
    and CMS provider number); Part D: the pharmacy is the facility."""
    npi = str(rng.randrange(10**9, 2 * 10**9))
    if not r4:
        return {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}}
    kind = content.kind_of(claim_type)
    if kind == "institutional":
        resource["contained"] = [{
            "resourceType": "Organization",
            "id": "provider-org",
            "identifier": [
                content.npi_identifier(npi, True),
                {"type": {"coding": [{"system": f"{content.C4BB}/C4BBIdentifierType", "code": "PRN"}]},
                 "value": f"{rng.randrange(10**5, 10**6)}"},
            ],
            "active": True,
        }]  # fmt: skip
        return {"reference": "#provider-org"}
    if kind == "pharmacy":
        resource["facility"] = {"identifier": content.npi_identifier(str(rng.randrange(10**9, 2 * 10**9)), True)}
    return {"identifier": {"system": f"{BB}/variables/carr_clm_blg_npi_num", "value": npi}}


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
