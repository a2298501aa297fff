"""The fault soak: consecutive runs of the real state machine against one emulator, a fault drawn per
run, the emulator's data advancing between runs, and after each run the promises checked:

- lost: a file the server listed for a completed run did not land, or not byte-identical;
- duplicated: a server file landed under two keys, or data landed that no completed run listed (and
  no failed run that a re-run may still resume owns);
- wrong watermark: a scope's watermark is not what its last complete, full-window run earned (the
  server's transactionTime; AB2D, or a transactionTime in the server's future: the run's kick-off
  time, exactly as it recorded it, and no later than the server's job started); a partial run (failed
  outputs) earns none;
- claims mismatch: ``claims_current`` (the Resolve claims step's snapshot) differs from the emulator's
  truth of the exports that landed whole (checked when no failed run is waiting to be resumed: its
  partial data is then in the views).

A run also ends as its fault expects (landed, partial, or failed with the fault's named error), or
the soak counts it as unexpected.

Everything is drawn from ``random.Random(f"{seed}:{run}")``: the same seed replays the same faults.
"""

from __future__ import annotations

import io
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ingest.adapters.dynamo_store import DynamoRunStore
from local.claims.truth import export_windows, truth_mismatches, view_rows
from local.emulator import Emulator, EmulatorConfig
from local.runner.clockwork import Clockwork
from local.runner.synth import synthesize, synthesize_in_child
from local.runner.template_cache import CODE_ROOT, cached_template
from local.runner.world import LocalAws
from local.soak.faults import BASELINE, Fault, RunContext, faults_for
from local.soak.leaks import leaked, secrets_seen
from resolve import generation_key

SOURCE = "soak"
DATA_PREFIXES = ("fhir/", "errors/", "deleted/")
_PLACEHOLDER = "http://127.0.0.1:1"
DEFAULT_SCOPE = {"bcda": "Group/all", "ab2d": "Patient", "smart": "Patient"}
#: a recorded kick-off time is this much earlier than the server's job at most (the 202's Date header has
#: whole seconds, and the client takes one more off it)
KICK_OFF_SLACK_SECONDS = 5.0
#: the emulator's counters that number its jobs (the rest count a scenario's faults)
_ID_COUNTERS = ("-job-id", "ab2d-job", "smart-job", "adopt-job")


@dataclass
class Tally:
    lost: int = 0
    duplicated: int = 0
    wrong_watermarks: int = 0
    claims_mismatches: int = 0
    unexpected: int = 0
    leaks: int = 0
    failing_runs: list[int] = field(default_factory=list)

    def line(self, runs: int) -> str:
        return (
            f"soak: {runs} runs, {self.lost} lost, {self.duplicated} duplicated, "
            f"{self.wrong_watermarks} wrong watermarks, {self.claims_mismatches} claims mismatches"
        )

    @property
    def clean(self) -> bool:
        """Nothing lost, doubled, wrongly marked, mismatched, leaked, and every run ended as expected."""
        counts = (self.lost, self.duplicated, self.wrong_watermarks, self.claims_mismatches, self.leaks)
        return not any(counts) and not self.unexpected


@dataclass
class RunOutcome:
    number: int
    fault: str
    status: str
    problems: list[str]
    expected: bool


def _template(source: dict[str, Any], origin: str, in_process: bool) -> dict[str, Any]:
    """The synthesized template (cached like local-run's); ``in_process``: synthesized in this process,
    where a test session's CDK is already loaded, rather than in a child."""
    config = json.loads(json.dumps({"sources": [source]}).replace(origin, _PLACEHOLDER))
    cached = cached_template(config, synthesize if in_process else lambda c: synthesize_in_child(c, CODE_ROOT))
    return dict(json.loads(json.dumps(cached.template).replace(_PLACEHOLDER, origin)))


@contextmanager
def _quiet_moto(stream: IO[str]) -> Iterator[None]:
    # moto logs a traceback for every failed state: the handlers' log file, not the terminal
    handler = logging.StreamHandler(stream)
    last_resort, logging.lastResort = logging.lastResort, handler  # loggers without a handler of their own
    saved = []
    for name in ("moto", "botocore.credentials"):
        chatty = logging.getLogger(name)
        saved.append((chatty, chatty.handlers, chatty.propagate))
        chatty.handlers, chatty.propagate = [handler], False
    try:
        yield
    finally:
        for chatty, handlers, propagate in saved:
            chatty.handlers, chatty.propagate = handlers, propagate
        logging.lastResort = last_resort


class Soak:
    """One emulator and one emulated stack for all runs; ``run(number)`` plays one run and checks it."""

    def __init__(
        self, flavor: str, seed: int, patients: int, workdir: Path, say: Callable[[str], None], in_process: bool = False
    ) -> None:
        self.flavor, self.seed, self.say = flavor, seed, say
        self.workdir = workdir
        self._exits = ExitStack()
        self.emu = self._exits.enter_context(
            # error_files off: the claims truth does not model the beneficiaries BCDA reports as errors
            Emulator(EmulatorConfig(flavor=flavor, seed=seed, patients=patients, error_files=False, **_baseline()))
        )
        source = {"name": SOURCE, "api": flavor, "base_url": self.emu.base_url, "token_url": self.emu.token_url,
                  "schedule_enabled": False, "download_concurrency": 4}  # fmt: skip
        self._log_path = workdir / "lambda.jsonl"
        logs = self._exits.enter_context(self._log_path.open("a", encoding="utf-8"))
        self._exits.enter_context(_quiet_moto(logs))
        clockwork = Clockwork(scale=0.0, on_wait=self.emu.clock.advance)
        template = _template(source, self.emu.origin, in_process)
        self.aws = self._exits.enter_context(LocalAws(template, clockwork=clockwork, log_stream=logs))
        secret: dict[str, Any] = {"client_id": self.emu.client_id}
        if self.emu.private_key_path:
            secret["private_key_jwk"] = json.loads(Path(self.emu.private_key_path).read_text())
        else:
            secret["client_secret"] = self.emu.client_secret
        self.aws.put_credentials(SOURCE, secret)
        self.store = DynamoRunStore(self.aws.table)
        self.faults = faults_for(flavor)
        self._lasting: dict[str, Any] = {}  # the last fault's knobs that stay for the next run
        #: what the checks remember between runs
        self.succeeded_runs: dict[str, str] = {}  # run id -> emulator job id of its export
        self.partial_jobs: dict[str, tuple[str, ...]] = {}  # job id of a partial run -> the types that failed
        self.expected_watermarks: dict[str, datetime] = {}
        self._known: dict[str, str] = {}  # landed data key -> its source URL
        self._curated: dict[str, str] = {}  # curated key mirrored into workdir -> ETag
        self._secrets: set[str] = set()  # what must never leak, of the requests read so far
        self._records_read = self._log_read = 0
        self.tally = Tally()

    def close(self) -> None:
        self._exits.close()

    # -- one run ---------------------------------------------------------------------------------

    def run(self, number: int) -> RunOutcome:
        rng = random.Random(f"{self.seed}:{number}")  # noqa: S311 - draws faults, never anything secret
        fault = rng.choice(self.faults)
        if number > 0 and rng.random() < 0.85:
            self.emu.advance_data(days=30)  # a month passes (now and then nothing new)
        self._arrange(fault, self._lasting)
        self._lasting = dict(fault.lasting)
        watermark = self.store.get_watermark(SOURCE, DEFAULT_SCOPE[self.flavor])
        execution_input = {"source": SOURCE}
        if fault.execution_input is not None:
            execution_input.update(fault.execution_input(RunContext(self.flavor, watermark)))
        future_time = self.emu.config.dates_in_future  # the manifests of this run say 2099
        failing = self.emu.config.failing_types  # every output of these types fails (smart)
        with fault.during(self.emu) if fault.during else nullcontext():
            arn = self.aws.start(execution_input)
            status = self._wait(arn)
        self._arrange(None)
        problems = self._check(arn, status, future_time, failing)
        ledger = self._ledger_of(arn) or {}
        problems += self._check_leaks(arn, ledger)
        ended = "fail" if status != "SUCCEEDED" else "succeed" if ledger.get("partial", "no") == "no" else "partial"
        expected = ended == self._expectation(fault, ledger) and (
            ended != "fail" or fault.error_for(self.flavor) in (None, ledger.get("error"))
        )
        # a fault on the downloads cannot fail a run that has nothing to download (a month with no news),
        # nor a fault on new jobs one that resumes an earlier run's completed job
        nothing_to_fail = ended == "succeed" and (int(ledger.get("file_count") or 0) == 0 or "resumed_at" in ledger)
        expected = expected or nothing_to_fail
        if not expected:
            problems = [f"unexpected: {ended}, {ledger.get('error')}: {ledger.get('cause')}", *problems]
        outcome = RunOutcome(number, fault.name, status, problems, expected)
        self.tally.unexpected += not expected
        if problems:
            self.tally.failing_runs.append(number)
        return outcome

    def _expectation(self, fault: Fault, ledger: dict[str, Any]) -> str:
        """How the run should end: as its fault says, but an export that lists no failed output (nothing
        of a failing type changed) is complete."""
        if fault.expect == "partial":
            job = next((job for job in self.emu.state.jobs.all() if job.status_url == ledger.get("job_url")), None)
            return "partial" if job is not None and any(f.kind == "error" for f in job.files) else "succeed"
        return fault.expect

    def _arrange(self, fault: Fault | None, lasting: dict[str, Any] | None = None) -> None:
        for name, value in _baseline().items():
            setattr(self.emu.config, name, value)
        with self.emu.state.lock:  # a fault's "first N" counts from its own run (job ids go on)
            for name in [n for n in self.emu.state.counters if not n.endswith(_ID_COUNTERS)]:
                del self.emu.state.counters[name]
        if fault is not None:
            self.emu.config.scenario = fault.scenario
            knobs = {**(lasting or {}), **fault.knobs, **(fault.knobs_for(self.emu) if fault.knobs_for else {})}
            for name, value in knobs.items():
                setattr(self.emu.config, name, value)

    def _wait(self, arn: str, timeout: float = 900.0) -> str:
        deadline = time.monotonic() + timeout
        while (status := str(self.aws.describe(arn)["status"])) == "RUNNING":
            if time.monotonic() > deadline:
                self.aws.stepfunctions.stop_execution(executionArn=arn, cause="the soak's time for one run ran out")
                return "TIMED_OUT"
            self.aws.activity.wait(1.0)
        return status

    # -- the checks ------------------------------------------------------------------------------

    def _check_leaks(self, arn: str, ledger: dict[str, Any]) -> list[str]:
        """No credential, token or URL signature in the run's history, its ledger entry or the log lines
        written during it."""
        records = self.emu.requests()
        self._secrets |= secrets_seen(self.emu, records[self._records_read :])
        self._records_read = len(records)
        with self._log_path.open(encoding="utf-8") as log:
            log.seek(self._log_read)
            written = log.read()
            self._log_read = log.tell()
        found = leaked(self._secrets, self.aws.history(arn), ledger, written)
        self.tally.leaks += len(found)
        return [f"leaked: {', '.join(found)} in the run's history, ledger entry or logs"] if found else []

    def _ledger_of(self, arn: str) -> dict[str, Any] | None:
        return next((run for run in self.store.list_runs(SOURCE, 20) if run.get("execution") == arn), None)

    def _check(self, arn: str, status: str, future_time: bool, failing: tuple[str, ...]) -> list[str]:
        ledger = self._ledger_of(arn)
        jobs = {job.status_url: job for job in self.emu.state.jobs.all()}
        problems: list[str] = []
        if status == "SUCCEEDED" and ledger is not None:
            job = jobs.get(str(ledger.get("job_url")))
            if job is not None:
                self.succeeded_runs[str(ledger["run_id"])] = job.id
                if ledger.get("partial", "no") != "no":
                    self.partial_jobs[job.id] = failing  # it earns no watermark, and its claims are not whole
                elif ledger.get("watermark_held") == "no":
                    problems += self._earn(str(ledger["scope"]), job, ledger, future_time)
        problems += self._check_files()
        problems += self._check_watermarks()
        if status == "SUCCEEDED" and not self._resumable_runs():
            problems += self._check_claims()
        return problems

    def _earn(self, scope: str, job: Any, ledger: dict[str, Any], future_time: bool) -> list[str]:
        """What a complete run earns: the server's transactionTime; AB2D's, or one in the server's future,
        is the kick-off time the run recorded (none for an adopted job of unknown start, README), which
        must be no later than the server's job started, and at most a few seconds earlier."""
        earned = job.transaction_time
        if self.flavor == "ab2d" or future_time:
            recorded = ledger.get("kicked_off_at")
            if recorded in (None, "unknown"):
                return []
            earned = datetime.fromisoformat(str(recorded).replace("Z", "+00:00"))
            # the 202's Date header, in whole seconds, less one: stamped as the server answers
            if not 0 <= (job.created_at - earned).total_seconds() <= KICK_OFF_SLACK_SECONDS:
                self.tally.wrong_watermarks += 1
                return [f"kick-off time of {scope}: {recorded}, the server's job started {job.created_at.isoformat()}"]
        if earned is not None and earned > self.expected_watermarks.get(scope, earned.min.replace(tzinfo=UTC)):
            self.expected_watermarks[scope] = earned
        return []

    def _resumable_runs(self) -> set[str]:
        scopes = {DEFAULT_SCOPE[self.flavor], *self.expected_watermarks}
        found = [self.store.get_open_job(SOURCE, scope) for scope in scopes]
        return {job.run_id for job in found if job is not None}

    def _check_files(self) -> list[str]:
        keys = [key for prefix in DATA_PREFIXES for key in self.aws.list_keys(f"{prefix}{SOURCE}/")]
        problems = self._check_new_objects(keys)
        by_url: dict[str, list[str]] = {}
        for key, url in self._known.items():
            by_url.setdefault(url, []).append(key)
        for url, where in by_url.items():
            if len(where) > 1:
                problems.append(f"duplicated: {url} landed {len(where)} times: {sorted(where)}")
                self.tally.duplicated += len(where) - 1
        owners = set(self.succeeded_runs) | self._resumable_runs()
        for key in keys:
            run_id = key.split("/")[-2]
            if run_id not in owners:
                problems.append(f"extra: {key} belongs to run {run_id}, neither complete nor resumable")
                self.tally.duplicated += 1
        for run_id, job_id in self.succeeded_runs.items():
            job = self.emu.state.jobs.get(job_id)
            for served_file in job.files if job else []:
                url = served_file.url
                if not [key for key in by_url.get(url, []) if f"/{run_id}/" in key]:
                    problems.append(f"lost: {url} of run {run_id} never landed")
                    self.tally.lost += 1
        return problems

    def _check_new_objects(self, keys: list[str]) -> list[str]:
        """Objects gone since the last run; new ones: a file the server listed, byte for byte."""
        problems: list[str] = []
        # a served file's URL is unsigned (signatures are added per answer) and keeps a naming query
        served = {f.url for job in self.emu.state.jobs.all() for f in job.files}
        for key in set(self._known) - set(keys):
            url = self._known.pop(key)
            if key.split("/")[-2] in self.succeeded_runs:  # an abandoned run's partial files must go
                problems.append(f"lost: {key} ({url}) is gone")
                self.tally.lost += 1
        for key in (key for key in keys if key not in self._known):
            url = self.aws.s3.head_object(Bucket=self.aws.bucket, Key=key)["Metadata"].get("source-url", "")
            self._known[key] = url
            if url not in served:
                problems.append(f"extra: {key} is no file the server listed ({url})")
                self.tally.duplicated += 1
            elif self.aws.s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read() != self.emu.file_gzip(url):
                problems.append(f"lost: {key} differs from the server's file {url}")
                self.tally.lost += 1
        return problems

    def _check_watermarks(self) -> list[str]:
        problems = []
        for scope, expected in self.expected_watermarks.items():
            text = self.store.get_watermark(SOURCE, scope)
            got = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
            if got != expected:
                problems.append(f"watermark of {scope}: {text}, earned {expected.isoformat()}")
        if problems:
            self.tally.wrong_watermarks += 1
        return problems

    def _check_claims(self) -> list[str]:
        root = self.workdir / "mirror"
        listed = {}
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.aws.bucket, Prefix=f"curated/{SOURCE}/"
        ):
            listed.update({obj["Key"]: obj["ETag"] for obj in page.get("Contents", [])})
        for key in set(self._curated) - set(listed):
            (root / key).unlink(missing_ok=True)
            del self._curated[key]
        for key, etag in listed.items():
            if self._curated.get(key) != etag:
                self.aws.download(key, root / key)
                self._curated[key] = etag
        # claims_current is Resolve claims' snapshot, folded run by run: it must be there, equal the
        # history view over every curated file (what a rebuild resolves), and equal the truth
        snapshot = view_rows(root, SOURCE)
        problems = [] if (root / generation_key(SOURCE)).is_file() else ["claims: no resolved snapshot"]
        history = view_rows(root, SOURCE, snapshots=False)
        if snapshot != history:
            differ = {str(row["claim_group_id"]) for row in snapshot} ^ {str(row["claim_group_id"]) for row in history}
            differ |= {str(a["claim_group_id"]) for a, b in zip(snapshot, history, strict=False) if a != b}
            problems.append(f"claims: the snapshot and the history view differ, e.g. family {sorted(differ)[0]}")
        # a partial run's claims are what its files held: none of a type whose outputs failed
        windows = export_windows(self.emu.state, self.succeeded_runs.values(), self.partial_jobs)
        wrong = truth_mismatches(self.emu.state, snapshot, windows)
        if wrong:
            problems.append(f"claims: {len(wrong)} families differ from the truth, e.g. {wrong[0]}")
        self.tally.claims_mismatches += bool(problems)
        return problems


def _baseline() -> dict[str, Any]:
    return {name: (dict(value) if isinstance(value, dict) else value) for name, value in BASELINE.items()}


def soak(
    runs: int, seed: int, flavor: str = "bcda", patients: int = 60, out: IO[str] | None = None, in_process: bool = False
) -> Tally:
    """Play ``runs`` runs; one line per run and the summary line to ``out`` (``in_process``: synthesize
    the template in this process, as a test session does)."""
    stream = out or io.StringIO()

    def say(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        world = Soak(flavor, seed, patients, Path(workdir), say, in_process)
        try:
            for number in range(runs):
                started = time.monotonic()
                outcome = world.run(number)
                verdict = "ok" if not outcome.problems else f"{len(outcome.problems)} problems"
                expectation = "" if outcome.expected else " (UNEXPECTED)"
                say(f"run {number:3d}  {outcome.fault:30s} {outcome.status:9s}{expectation:13s} "
                    f"{time.monotonic() - started:5.1f} s  {verdict}")  # fmt: skip
                for problem in outcome.problems[:5]:
                    say(f"    {problem}")
                if outcome.problems:
                    say(f"    replay: benchmarks/soak.py --flavor {flavor} --seed {seed} --runs {number + 1}")
        finally:
            world.close()
    tally = world.tally
    if tally.unexpected:
        say(f"soak: {tally.unexpected} runs ended otherwise than their fault expects")
    if tally.leaks:
        say(f"soak: {tally.leaks} secrets leaked into histories, ledger entries or logs")
    say(tally.line(runs))
    return tally
