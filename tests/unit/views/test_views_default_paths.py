"""Every path of the default CMS views comes from CMS's own BFD V2 data dictionary
(../shared/bfd-v2-dictionary/elements.tsv): either a dictionary fhirPath (its ``[%n]`` step being
the view's forEach), or a deliberate variant named here with the reason. Each column's description
cites the dictionary ids it stands for, and they exist."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from views.catalog import DEFAULTS_DIR

ROOT = Path(__file__).resolve().parents[3]
EOB_TYPE = "the eob-type coding (claims layer's claim_type); the dictionary has only nch_clm_type_cd"
VARIANTS = {
    "claim_headers.claim_type": EOB_TYPE,
    "claim_lines.claim_type": EOB_TYPE,
    "claim_diagnoses.claim_type": EOB_TYPE,
    "claim_procedures.claim_type": EOB_TYPE,
    "claim_headers.patient_id": "dictionary 7 (patient.reference.substring(8,50)) as the key getReferenceKey() gives",
    "coverage_periods.patient_id": "Coverage.beneficiary as getReferenceKey() (dictionary 573 has no path)",
    "claim_headers.organization_npi": "312 (institutional) | 313 (Carrier): the two claim-type paths in one column",
    "claim_lines.ndc": "272/383 (an extension) | 353 (PDE: a coding): the claim-type paths in one column",
    "claim_lines.service_start": "257's iif(servicedPeriod, servicedDate) per line: .start, or servicedDate",
    "claim_lines.service_end": "270 (servicedPeriod.end) or 382/411 (servicedDate), as service_start",
    "claim_lines.units": "397 (institutional unit count extension), else 280/367 (quantity.value)",
    "claim_lines.rendering_npi": "per line via item.careTeamSequence (dictionary note); 349/357/400 are per claim",
    "claim_lines.paid_amount": "271 | 389 | 105: the per-claim-type paid variables in one where()",
    "claim_lines.submitted_amount": "278 | 396 | 416: the per-claim-type submitted variables in one where()",
    "claim_diagnoses.code": "268 with ICD-9-CM (and BFD V1's icd-10 / icd-9) kept: the dictionary reads ICD-10 only",
    "claim_diagnoses.code_system": "269 with ICD-9 kept, as code",
    "claim_diagnoses.icd_version": "derived from the code system (9 or 10)",
    "claim_diagnoses.type": "the diagnosis type the positional paths filter on, per entry",
    "claim_diagnoses.principal": "351's filter, per entry",
    "claim_diagnoses.present_on_admission": "64-89: clm_poa_ind_swN per diagnosis, N = its position (startsWith)",
    "claim_procedures.code": "205-229 per entry, with ICD-9 kept (the dictionary reads ICD-10 only)",
    "claim_procedures.code_system": "230-254 per entry, with ICD-9 kept",
    "coverage_periods.part": "615 (R4 class plan) | 611 (STU3 grouping.subPlan)",
    "patient_demographics.mbi": "426, with STU3's currency on the identifier itself as well",
    "patient_demographics.death_date": "440 deceasedDateTime, as FHIRPath names a choice element",
    "patient_demographics.state": "430 without [%n]: one row per Patient (BFD sends one address)",
    "patient_demographics.zip": "431 without [%n], as state",
}


def _dictionary() -> list[dict[str, str]]:
    for folder in ROOT.parents:
        path = folder / "shared" / "bfd-v2-dictionary" / "elements.tsv"
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as rows:
                return list(csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE))
    raise FileNotFoundError("shared/bfd-v2-dictionary/elements.tsv not found beside the checkout or above it")


def _normalised(path: str) -> str:
    """Whitespace collapsed, none around '=', the leading repetition step dropped."""
    path = re.sub(r"\s*=\s*", "=", re.sub(r"\s+", " ", path.strip()))
    path = re.sub(r"^(item|diagnosis|careTeam|benefitBalance|insurance|address)\[%n\]\.", "", path)
    return re.sub(r"^procedure\[\d+\]\.", "", path)


def _columns() -> list[tuple[str, dict[str, str]]]:
    out = []
    for path in sorted(DEFAULTS_DIR.glob("*.json")):
        view = json.loads(path.read_text(encoding="utf-8"))
        out += [(f"{view['name']}.{c['name']}", c) for select in view["select"] for c in select["column"]]
    return out


def test_every_path_is_a_dictionary_path_or_a_named_variant() -> None:
    rows = _dictionary()
    known = {_normalised(row["fhirPath"]) for row in rows if row["fhirPath"]}
    unexplained = [
        name for name, column in _columns() if _normalised(column["path"]) not in known and name not in VARIANTS
    ]
    assert unexplained == []
    stale = [name for name, column in _columns() if name in VARIANTS and _normalised(column["path"]) in known]
    assert stale == []  # a variant that became a dictionary path is listed no more
    assert set(VARIANTS) <= {name for name, _ in _columns()}


def test_the_dictionary_ids_a_column_cites_exist() -> None:
    ids = {row["dictionary_id"] for row in _dictionary()}
    cited = {
        name: re.findall(r"\d+", match.group(1))
        for name, column in _columns()
        if (match := re.match(r"dictionary ([\d/, -]+)", column.get("description", "")))
    }
    assert len(cited) >= 40
    missing = {name: [n for n in numbers if n not in ids] for name, numbers in cited.items()}
    assert {name: numbers for name, numbers in missing.items() if numbers} == {}
