"""What the OperationOutcomes of an export's error files say: which of them report output the export
does not hold.

The Bulk Data spec lists error files (``error[]``) for "errors that occurred during the export"
without saying whether the export is then complete. The servers differ:

- **BCDA** writes one line per beneficiary whose data could not be retrieved, in normal operation:
  ``{"severity":"error","code":"not-found","diagnostics":"Error retrieving ExplanationOfBenefit for
  beneficiary MBI 1S00E00AA66 in ACO A9994"}`` (bcda-app worker). The export is as complete as BCDA
  will make it; a later ``_since`` does not bring these back either. On v3 it adds
  ``warnings-and-info.ndjson``, a ``warning``.
- **the SMART reference server** (bulk-data-server ``Manifest.addError``, ``some_file_generation_failed``)
  lists an output file it failed to generate under ``error[]`` instead, with the ``count`` of the
  output it replaces, and the file holds ``{"severity":"error","code":"processing","diagnostics":
  "Failed to export 2.Patient.ndjson"}``: those resources are in no file of the export.

So a line is one of three things:

- **informational**: no issue of severity ``fatal`` or ``error`` (warnings, information);
- **a record**: its errors are about one record, which the server names: issue code ``not-found``
  (a record the server could not retrieve), or a text naming one beneficiary or patient ("for
  beneficiary ...", "for patient ..."); these are the server's normal reporting and let the run
  move its watermark, as before;
- **a failed output**: any other error, the SMART reference server's included. Data the export was
  asked for is missing as a whole, so the run must not move the watermark past it: the next run asks
  again from the old one. A line that is not an OperationOutcome at all counts here too (it cannot be
  read as harmless).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_ERROR_SEVERITIES = ("fatal", "error")
_ONE_RECORD = re.compile(r"\bfor (?:the )?(?:beneficiary|patient)\b", re.IGNORECASE)
#: A FHIR resource type named in a failure ("Failed to export 2.Patient.ndjson"): a name, never PHI.
_TYPE_WORD = re.compile(r"(?<![A-Za-z])([A-Z][A-Za-z]{2,63})(?![A-Za-z])")
#: Kept per file: enough to say which types failed, never the texts (they may hold MBIs).
MAX_TYPES = 20


def _issue_text(issue: dict[str, object]) -> str:
    details = issue.get("details")
    text = details.get("text") if isinstance(details, dict) else None
    return f"{issue.get('diagnostics') or ''} {text or ''}"


def classify(line: bytes) -> str:
    """``"informational"``, ``"record"`` or ``"failed-output"`` for one error-file line."""
    try:
        outcome = json.loads(line)
    except ValueError:
        return "failed-output"
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return "failed-output"
    issues = [issue for issue in outcome.get("issue") or [] if isinstance(issue, dict)]
    errors = [issue for issue in issues if issue.get("severity") in _ERROR_SEVERITIES]
    if not errors:
        return "informational"
    for issue in errors:
        if issue.get("code") != "not-found" and not _ONE_RECORD.search(_issue_text(issue)):
            return "failed-output"
    return "record"


@dataclass
class OutcomeTally:
    """Feed it every line of an error file (``NdjsonCounter(on_line=tally.feed)``)."""

    #: the resource types the export asked for: the ones a failed output's text may name
    known_types: frozenset[str] = frozenset()
    informational: int = 0
    records: int = 0
    failed_outputs: int = 0
    failed_types: list[str] = field(default_factory=list)

    def feed(self, line: bytes) -> None:
        if not line.strip():
            return
        kind = classify(line)
        if kind == "informational":
            self.informational += 1
        elif kind == "record":
            self.records += 1
        else:
            self.failed_outputs += 1
            self._name_types(line)

    def _name_types(self, line: bytes) -> None:
        if len(self.failed_types) >= MAX_TYPES:
            return
        text = line.decode("utf-8", "replace")
        for word in _TYPE_WORD.findall(text):
            if word in self.known_types and word not in self.failed_types and len(self.failed_types) < MAX_TYPES:
                self.failed_types.append(word)
