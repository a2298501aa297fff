"""The fault soak's table: what may go wrong in one run, and what the run should then do.

A new kind of fault is one entry: the emulator scenario (names compose: ``"a,b"``) and knobs it sets
for one run (everything is reset before the next, but for the ``lasting`` knobs: a server that signs
its URLs goes on signing them), the execution input it starts (a narrower manual run), the flavours
it applies to, and how the run should end: it lands (``succeed``), lands what the server exported and
holds the watermark (``partial``: the server reported failed outputs), or fails cleanly with the
named ``error`` (``fail``; the next run recovers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from bulkfhir import BulkDataClient, TransientError
from local.emulator.scenarios import served_path

#: what a fault's input may look at: the scope's watermark, the flavour
InputFor = Callable[["RunContext"], dict[str, Any]]


@dataclass(frozen=True)
class RunContext:
    flavor: str
    watermark: str | None  # the default scope's, before the run


@dataclass(frozen=True)
class Fault:
    name: str
    scenario: str = "none"
    knobs: dict[str, Any] = field(default_factory=dict)
    execution_input: InputFor | None = None
    expect: str = "succeed"  # "succeed" | "partial" | "fail"
    #: the error a failing run must end with (its name in the run ledger); by flavour where they differ
    error: str | dict[str, str] | None = None
    flavors: tuple[str, ...] = ("bcda", "ab2d", "smart")
    weight: int = 1
    #: knobs that depend on the emulator's state (e.g. the jobs it has), set after ``knobs``
    knobs_for: Callable[[Any], dict[str, Any]] | None = None
    #: what a fault the emulator cannot play does on the wire, in effect for the run (given the emulator)
    during: Callable[[Any], AbstractContextManager[None]] | None = None
    #: knobs that stay in force for the next run too (the server's ways, not a one-off fault)
    lasting: dict[str, Any] = field(default_factory=dict)

    def error_for(self, flavor: str) -> str | None:
        return self.error.get(flavor) if isinstance(self.error, dict) else self.error


def _later_since(context: RunContext) -> dict[str, Any]:
    """A manual run from just after the watermark: it lands what it finds and holds the watermark."""
    if context.watermark is None:
        return {"since": "2020-01-01T00:00:00Z"}  # no watermark yet: only a full pull may set the first
    later = datetime.fromisoformat(context.watermark.replace("Z", "+00:00")) + timedelta(seconds=1)
    return {"since": later.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}  # never in the future (servers refuse that)


def _jobs_unreportable(emulator: Any) -> dict[str, Any]:
    """Every existing job's status is refused (credentials rotated, a proxy): a run that would resume
    an earlier run's job abandons it and starts over with a fresh export."""
    return {"status_override": {job.id: 403 for job in emulator.jobs()}}


@contextmanager
def _first_file_keeps_breaking(emulator: Any) -> Iterator[None]:
    """The connection to one file (the newest job's first) breaks on every download, the others land:
    the run fails with part of its files landed, and the next run resumes or abandons the job."""
    real_open = BulkDataClient.open_file

    def open_file(client: BulkDataClient, url: str, **kwargs: Any) -> Any:
        jobs = emulator.jobs()
        broken = served_path(jobs[-1].files[0].url) if jobs and jobs[-1].files else None
        if served_path(url) == broken:  # the file, however its URL names it and is signed
            raise TransientError("soak: the connection to this file keeps breaking", bytes_received=None)
        return real_open(client, url, **kwargs)

    with mock.patch.object(BulkDataClient, "open_file", open_file):
        yield


def _fewer_types(context: RunContext) -> dict[str, Any]:
    """A manual run of a subset of the source's types: a scope (and watermark) of its own."""
    return {"types": ["ExplanationOfBenefit", "Patient"]}


FAULTS: tuple[Fault, ...] = (
    Fault("none", weight=3),
    Fault("connection-resets", "drop-connection"),
    Fault("connection-reset-in-gzip-tail", "drop-connection", {"drop_point": "trailing-member"}, flavors=("bcda",)),
    Fault("truncated-gzip", "truncated-gzip"),
    Fault("status-5xx", "status-5xx"),  # 503 with Retry-After, 500 and a 502 page without
    Fault("kickoff-429-retry-after", "kickoff-429", {"kickoff_retry_after": 7}),
    Fault("kickoff-429-adopt", "kickoff-429-adopt", flavors=("bcda", "ab2d")),
    Fault("kickoff-response-lost", "kickoff-response-lost"),
    Fault("token-expiry", "token-expiry"),
    Fault("proxy-error-page", "html-error"),
    Fault("slow-export", "slow-export", {"export_hours": 9}),
    Fault("signed-file-urls", knobs={"signed_file_urls": True}),
    Fault("range-ignored", "drop-connection", {"range_reply": "ignore"}),
    Fault("job-failed", "job-failed", expect="fail", error="ExportFailedError"),
    Fault("job-expired", "job-expired", expect="fail", error="ExportGoneError"),
    # every download of every file breaks: the run fails after the export; the next run resumes the job
    # (with a manifest listed in another order, as BCDA's has no ORDER BY). AB2D: the resumes within an
    # invocation use up the downloads it allows a file before the task retries run out
    Fault(
        "downloads-keep-failing",
        "drop-connection",
        {"fault_downloads_per_file": 100},
        expect="fail",
        error={"bcda": "TransientError", "ab2d": "ExportGoneError", "smart": "TransientError"},
    ),
    Fault("one-file-keeps-breaking", during=_first_file_keeps_breaking, expect="fail", error="TransientError"),
    Fault("resume-refused", knobs_for=_jobs_unreportable),
    Fault("narrower-since", execution_input=_later_since),
    Fault("narrower-types", execution_input=_fewer_types, flavors=("bcda", "smart")),
    # -- issue #14's server faults, alone and composed
    # files named by their query string (download?file=A): each is a file of its own
    Fault("query-named-files", "query-named-files"),
    Fault("query-named-signed-files", "query-named-files,signed-urls,drop-connection"),
    # a block page answers 200 in the place of every file of one type: refused by name, resumed by the
    # next run (the other files landed)
    Fault("html-block-page", "html-block-page", expect="fail", error="UnexpectedResponseError"),
    Fault("text-block-page", "text-block-page,query-named-files", expect="fail", error="UnexpectedResponseError"),
    Fault("block-page-as-ndjson", knobs={"block_page": "html-as-ndjson"}, expect="fail", error="VerificationError"),
    # the manifest says 2099: the watermark is the kick-off time (the soak expects exactly that)
    Fault("future-transaction-time", "future-transaction-time"),
    Fault("future-transaction-time-resets", "future-transaction-time,drop-connection"),
    # the SMART reference server lists whole files it failed to generate under error[]: partial, the
    # watermark held, and the next complete run asks again from it
    Fault("failed-outputs", "failed-outputs", expect="partial", flavors=("smart",)),
    Fault("failed-outputs-future-time", "failed-outputs,future-transaction-time", expect="partial", flavors=("smart",)),
    # signed URLs expire before a broken download resumes: the run fails naming the signature, and the
    # next run (the server still signing) polls again for freshly signed URLs and lands the rest
    Fault(
        "expiring-signed-urls",
        "signed-urls,drop-connection",
        {"signed_url_seconds": 1},
        expect="fail",
        error="AuthenticationError",
        lasting={"signed_file_urls": True},
    ),
    # the broken manifest holds a signed URL: the failure quotes none of it
    Fault(
        "malformed-signed-manifest",
        "malformed-signed-manifest",
        expect="fail",
        error="UnexpectedResponseError",
        lasting={"signed_file_urls": True},
    ),
)

#: Knobs every run starts from; a fault changes them for its run only.
BASELINE: dict[str, Any] = {
    "scenario": "none",
    "manifest_order": "rotating",
    "drop_point": "middle",
    "range_reply": "honour",
    "fault_downloads_per_file": 1,
    "kickoff_retry_after": 1,
    "export_hours": None,
    "signed_file_urls": False,
    "status_override": {},
    "signed_url_seconds": 3600,
    "block_page": "none",
}


def faults_for(flavor: str) -> list[Fault]:
    return [fault for fault in FAULTS for _ in range(fault.weight) if flavor in fault.flavors]
