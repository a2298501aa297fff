"""What an ExplanationOfBenefit says about the care, in Blue Button's shapes (BFD V2 / CARIN BB for
R4; BFD V1 for STU3): care team with NPIs, diagnoses (ICD-10-CM, and ICD-9-CM on the older claims
the sandboxes carry), procedures, supporting information, totals and the lines (``item``) with
their adjudication amounts, per claim type, where the BFD V2 data dictionary puts them
(../shared/bfd-v2-dictionary). The claims layer reads none of it; the SQL on FHIR views do.

Amounts are exact cents; everything derives from the revision's seeded RNG.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from local.emulator.population import Revision

BB = "https://bluebutton.cms.gov/resources"
VAR = f"{BB}/variables"
ADJUDICATION = f"{BB}/codesystem/adjudication"
C4BB = "http://hl7.org/fhir/us/carin-bb/CodeSystem"
ICD10CM, ICD9CM = "http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-9-cm"
ICD10PCS, ICD9PCS = "http://www.cms.gov/Medicare/Coding/ICD10", "http://www.cms.gov/Medicare/Coding/ICD9"
NDC = "http://hl7.org/fhir/sid/ndc"
Json = dict[str, object]

ICD10 = ("E119", "I10", "E785", "J449", "N183", "I2510", "M179", "F329", "K219", "G4733", "Z7901", "R51", "I480")
ICD9 = ("25000", "4019", "2724", "496", "5853", "41401", "7155", "311", "53081", "32723")
PCS10 = ("0SRD0JZ", "02703ZZ", "0DTJ4ZZ", "5A1955Z", "30233N1")
PCS9 = ("8154", "3606", "4701", "9671", "9904")
HCPCS = ("99213", "99214", "80053", "85025", "93000", "71046", "36415", "G0439", "97110", "J1100", "E0601")
MODIFIERS = ("25", "59", "LT", "RT", "GT", "26", "TC", "KX")
NDCS = ("00093505698", "00378395205", "68180051303", "00071015523", "59762332901")
REVENUE = ("0450", "0300", "0250", "0636", "0120", "0420", "0551", "0651", "0022")
INSTITUTIONAL = ("inpatient", "outpatient", "snf", "hha", "hospice")
#: the share of claims coded in ICD-9 (BFD's synthetic sandbox data reaches back before October 2015)
ICD9_SHARE = 0.06
#: nch_clm_type_cd per claim type
NCH_TYPE = {
    "carrier": "71",
    "dme": "82",
    "inpatient": "60",
    "outpatient": "40",
    "snf": "20",
    "hha": "10",
    "hospice": "50",
    "pde": None,
}
#: (allowed, paid, submitted, others) adjudication variables of a line, per kind of claim
LINE_AMOUNTS = {
    "professional": (
        "line_alowd_chrg_amt",
        "line_nch_pmt_amt",
        "line_sbmtd_chrg_amt",
        (
            "line_bene_pmt_amt",
            "line_prvdr_pmt_amt",
            "line_bene_ptb_ddctbl_amt",
            "line_bene_prmry_pyr_pd_amt",
            "line_coinsrnc_amt",
        ),
    ),
    "institutional": (
        None,
        "rev_cntr_pmt_amt_amt",
        "rev_cntr_tot_chrg_amt",
        (
            "rev_cntr_ncvrd_chrg_amt",
            "rev_cntr_rate_amt",
            "rev_cntr_prvdr_pmt_amt",
            "rev_cntr_bene_pmt_amt",
            "rev_cntr_ptnt_rspnsblty_pmt",
        ),
    ),
    "pharmacy": (
        None,
        "cvrd_d_plan_pd_amt",
        "tot_rx_cst_amt",
        ("ncvrd_plan_pd_amt", "ptnt_pay_amt", "lics_amt", "gdc_blw_oopt_amt", "othr_troop_amt"),
    ),
}


def kind_of(claim_type: str) -> str:
    if claim_type == "pde":
        return "pharmacy"
    return "institutional" if claim_type in INSTITUTIONAL else "professional"


def _cents(rng: random.Random, low: float, high: float) -> float:
    return rng.randrange(int(low * 100), int(high * 100)) / 100


def _coding(system: str, code: str, display: str | None = None) -> Json:
    coding: Json = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _npi(rng: random.Random) -> str:
    return str(rng.randrange(10**9, 2 * 10**9))


def npi_identifier(value: str, r4: bool) -> Json:
    if r4:  # CARIN BB: typed by C4BBIdentifierType, no system
        return {
            "type": {"coding": [_coding(f"{C4BB}/C4BBIdentifierType", "npi", "National Provider Identifier")]},
            "value": value,
        }
    return {"system": "http://hl7.org/fhir/sid/us-npi", "value": value}


def _member(sequence: int, npi: str, role: str, r4: bool, rng: random.Random) -> Json:
    member: Json = {
        "sequence": sequence,
        "provider": {"identifier": npi_identifier(npi, r4)},
        "role": {
            "coding": [
                _coding(
                    f"{C4BB}/C4BBClaimCareTeamRole" if r4 else "http://hl7.org/fhir/claimcareteamrole",
                    role,
                    role.title(),
                )
            ]
        },
    }
    if role == "performing":
        member["responsible"] = True
        member["qualification"] = {"coding": [_coding(f"{VAR}/prvdr_spclty", f"{rng.randrange(1, 99):02d}")]}
        member["extension"] = [
            {"url": f"{VAR}/prtcptng_ind_cd", "valueCoding": _coding(f"{VAR}/prtcptng_ind_cd", "1", "Participating")}
        ]
    return member


def care_team(claim_type: str, rng: random.Random, r4: bool) -> list[Json]:
    """(role, NPI) entries as BFD lists them; a professional claim's lines may name different
    performing providers (each line's careTeamSequence points at its own)."""
    roles = {
        "carrier": ["primary", "referring", "performing", "performing"],
        "dme": ["referring", "performing"],
        "pde": ["prescribing"],
    }.get(claim_type, ["attending", "operating", "otheroperating", "performing"])
    if claim_type in ("outpatient", "hha", "hospice"):
        roles = ["attending", "performing"] if claim_type != "outpatient" else ["attending", "operating", "performing"]
    if claim_type == "carrier" and rng.random() < 0.6:
        roles = roles[:3]  # one performing provider for every line
    return [_member(n, _npi(rng), role, r4, rng) for n, role in enumerate(roles, start=1)]


def diagnoses(claim_type: str, rng: random.Random, r4: bool, icd9: bool) -> list[Json]:
    codes = rng.sample(ICD9 if icd9 else ICD10, 1 + rng.randrange(1 if claim_type == "pde" else 6))
    if claim_type == "pde":
        return []
    secondary = "secondary" if claim_type in ("carrier", "hha", "dme") else "other"
    labels = ["principal"] + [secondary] * (len(codes) - 1)
    if claim_type in ("inpatient", "snf"):
        labels = ["admitting", *labels]
        codes = [rng.choice(ICD9 if icd9 else ICD10), *codes]
    if claim_type in ("inpatient", "outpatient") and rng.random() < 0.3:
        labels.append("externalcauseofinjury")
        codes.append("V4352" if icd9 else "W010XXA")
    out = []
    for sequence, (label, code) in enumerate(zip(labels, codes, strict=True), start=1):
        if r4:
            system = ICD9CM if icd9 else ICD10CM
            kind = (
                "http://terminology.hl7.org/CodeSystem/ex-diagnosistype"
                if label in ("principal", "admitting")
                else f"{C4BB}/C4BBClaimDiagnosisType"
            )
        else:  # BFD V1
            system = ICD9CM if icd9 else "http://hl7.org/fhir/sid/icd-10"
            kind = f"{BB}/codesystem/diagnosis-type"
        entry: Json = {
            "sequence": sequence,
            "diagnosisCodeableConcept": {"coding": [_coding(system, code)]},
            "type": [{"coding": [_coding(kind, label)]}],
        }
        if claim_type == "inpatient" and label != "admitting":
            number = sequence - 1
            entry["extension"] = [
                {
                    "url": f"{VAR}/clm_poa_ind_sw{number}",
                    "valueCoding": _coding(f"{VAR}/clm_poa_ind_sw{number}", rng.choice("YYYNUW")),
                }
            ]
        out.append(entry)
    return out


def procedures(claim_type: str, rng: random.Random, served: date, icd9: bool) -> list[Json]:
    if claim_type not in ("inpatient", "outpatient", "snf") or rng.random() < 0.4:
        return []
    return [
        {
            "sequence": sequence,
            "date": f"{served + timedelta(days=sequence - 1)}T00:00:00+00:00",
            "procedureCodeableConcept": {"coding": [_coding(ICD9PCS if icd9 else ICD10PCS, code)]},
        }
        for sequence, code in enumerate(rng.sample(PCS9 if icd9 else PCS10, 1 + rng.randrange(3)), start=1)
    ]


def _adjudication(name: str, value: float, r4: bool) -> Json:
    category = [_coding(ADJUDICATION, f"{VAR}/{name}")]
    if r4:  # CARIN BB puts its own category first
        category.insert(0, _coding("http://terminology.hl7.org/CodeSystem/adjudication", "benefit"))
    amount: Json = {"value": value, "currency": "USD"}
    return {"category": {"coding": category}, "amount": amount}


def line_amounts(kind: str, rng: random.Random, r4: bool) -> tuple[list[Json], float]:
    """(adjudications, paid): submitted >= allowed >= paid, others at random, in exact cents."""
    allowed_name, paid_name, submitted_name, others = LINE_AMOUNTS[kind]
    submitted = _cents(rng, 20, 2400)
    allowed = round(submitted * rng.uniform(0.4, 1.0), 2)
    paid = round(allowed * 0.8, 2)
    entries = [(paid_name, paid), (submitted_name, submitted)]
    if allowed_name:
        entries.insert(0, (allowed_name, allowed))
    entries += [(name, _cents(rng, 0, allowed)) for name in others]
    return [_adjudication(name, value, r4) for name, value in entries], paid


def _product(claim_type: str, rng: random.Random, r4: bool) -> Json:
    if claim_type == "pde":
        return {"coding": [_coding(NDC, rng.choice(NDCS))]}
    product: Json = {"coding": [_coding(f"{VAR}/hcpcs_cd" if r4 else f"{BB}/codesystem/hcpcs", rng.choice(HCPCS))]}
    if claim_type in ("carrier", "dme", "outpatient") and rng.random() < 0.15:
        product["extension"] = [{"url": NDC, "valueCoding": _coding(NDC, rng.choice(NDCS))}]
    return product


def item(claim_type: str, sequence: int, rng: random.Random, served: date, team: list[Json], r4: bool) -> Json:
    kind = kind_of(claim_type)
    adjudication, _ = line_amounts(kind, rng, r4)
    line: Json = {"sequence": sequence}
    performing = [m["sequence"] for m in team if m["role"]["coding"][0]["code"] in ("performing", "prescribing")]  # type: ignore[index]
    if performing:
        line["careTeamSequence"] = [performing[(sequence - 1) % len(performing)]]
    if kind != "pharmacy":
        line["diagnosisSequence"] = [1]
    if kind == "institutional":
        line["revenue"] = {"coding": [_coding(f"{VAR}/rev_cntr", rng.choice(REVENUE))]}
    line["productOrService" if r4 else "service"] = _product(claim_type, rng, r4)
    if kind == "professional" and rng.random() < 0.35:
        line["modifier"] = [
            {"coding": [{"system": f"{BB}/codesystem/hcpcs", "version": "5", "code": code}]}
            for code in rng.sample(MODIFIERS, 1 + rng.randrange(2))
        ]
    day = served + timedelta(days=rng.randrange(3) if kind == "institutional" else 0)
    if kind == "professional":
        line["servicedPeriod"] = {"start": str(day), "end": str(day)}
        line["locationCodeableConcept"] = {
            "extension": [
                {"url": f"{VAR}/prvdr_state_cd", "valueCoding": _coding(f"{VAR}/prvdr_state_cd", "MD")},
                {
                    "url": f"{VAR}/prvdr_zip",
                    "valueCoding": _coding(f"{VAR}/prvdr_zip", f"{rng.randrange(20601, 21930)}"),
                },
            ],
            "coding": [_coding(f"{VAR}/line_place_of_srvc_cd", rng.choice(("11", "11", "22", "21", "81", "12")))],
        }
        line["quantity"] = {"value": 1 + rng.randrange(3)}
        line["extension"] = [
            {"url": f"{VAR}/betos_cd", "valueCoding": _coding(f"{VAR}/betos_cd", "M1B")},
            {"url": f"{VAR}/line_prcsg_ind_cd", "valueCoding": _coding(f"{VAR}/line_prcsg_ind_cd", "A", "Allowed")},
        ]
    elif kind == "institutional":
        if claim_type in ("outpatient", "hha", "hospice"):
            line["servicedDate"] = str(day)
        line["locationAddress"] = {"state": "MD"}
        units = 1 + rng.randrange(4)
        line["extension"] = [{"url": f"{VAR}/rev_cntr_unit_cnt", "valueQuantity": {"value": units}}]
    else:
        line["servicedDate"] = str(served)
        line["quantity"] = {"value": 30 * (1 + rng.randrange(3))}
    line["adjudication"] = adjudication
    return line


def items(claim_type: str, rng: random.Random, served: date, team: list[Json], r4: bool) -> list[Json]:
    count = 1 if claim_type == "pde" else 1 + rng.randrange(5 if kind_of(claim_type) == "institutional" else 4)
    return [item(claim_type, n, rng, served, team, r4) for n in range(1, count + 1)]


def paid_total(lines: list[Json]) -> float:
    """The claim's payment: its lines' paid amounts (the second or first adjudication entry)."""
    paid_names = {f"{VAR}/{names[1]}" for names in LINE_AMOUNTS.values()}
    total = 0
    for line in lines:
        for entry in line["adjudication"]:  # type: ignore[attr-defined]
            if any(c["code"] in paid_names for c in entry["category"]["coding"]):
                total += round(entry["amount"]["value"] * 100)
    return total / 100


def submitted_total(lines: list[Json]) -> float:
    names = {f"{VAR}/{n[2]}" for n in LINE_AMOUNTS.values()}
    return (
        sum(
            round(e["amount"]["value"] * 100)
            for line in lines
            for e in line["adjudication"]  # type: ignore[attr-defined]
            if any(c["code"] in names for c in e["category"]["coding"])
        )
        / 100
    )


def supporting_info(claim_type: str, rng: random.Random, served: date, revision: Revision) -> list[Json]:
    info_type = f"{C4BB}/C4BBSupportingInfoType"
    entries: list[Json] = [
        {
            "sequence": 1,
            "category": {"coding": [_coding(f"{BB}/codesystem/information", f"{VAR}/nch_wkly_proc_dt")]},
            "timingDate": str(served + timedelta(days=7)),
        }
    ]
    if claim_type in ("inpatient", "snf"):
        entries.append(
            {
                "sequence": 2,
                "category": {"coding": [_coding(info_type, "admissionperiod")]},
                "timingPeriod": {"start": str(served), "end": str(served + timedelta(days=2 + rng.randrange(6)))},
            }
        )
        entries.append(
            {
                "sequence": 3,
                "category": {"coding": [_coding(info_type, "drg")]},
                "code": {"coding": [_coding(f"{VAR}/clm_drg_cd", f"{rng.randrange(1, 999):03d}")]},
            }
        )
    if claim_type == "pde":
        entries.append(
            {
                "sequence": 2,
                "category": {"coding": [_coding(info_type, "dayssupply")]},
                "valueQuantity": {"value": 30},
            }
        )
    return entries


def benefit_balance(claim_type: str, rng: random.Random) -> list[Json]:
    if kind_of(claim_type) != "institutional":
        return []
    names = (
        "nch_bene_ip_ddctbl_amt",
        "nch_bene_pta_coinsrnc_lblty_am",
        "nch_ip_ncvrd_chrg_amt",
        "clm_pass_thru_per_diem_amt",
    )
    return [
        {
            "category": {
                "coding": [_coding("http://terminology.hl7.org/CodeSystem/ex-benefitcategory", "1", "Medical Care")]
            },
            "financial": [
                {
                    "type": {"coding": [_coding(f"{BB}/codesystem/benefit-balance", f"{VAR}/{name}")]},
                    "usedMoney": {"value": _cents(rng, 0, 900), "currency": "USD"},
                }
                for name in names
            ],
        }
    ]
