"""`bulk-ingest local-run`: the whole stack on this machine, against the built-in emulator or a real server.

The CDK app is synthesized (in a child process, and only when the code or the configuration changed
since the template was cached: :mod:`local.runner.template_cache`), its state machine runs in moto's
Step Functions engine with every Lambda handler called in-process, the landed objects are mirrored
into ``--out`` with a run.json, and a summary is printed. ``--state-dir`` keeps watermarks, ledger
and landed objects between runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from local.claims.summary import summary_line
from local.download_progress import size_text
from local.emulator import Emulator, EmulatorConfig
from local.emulator.config import scenario_names
from local.follow import Progress
from local.runner.clockwork import Clockwork
from local.runner.credentials import credentials_from_options
from local.runner.errors import LocalRunError
from local.runner.handler_warnings import handler_warnings_to
from local.runner.malloc_arenas import limit_malloc_arenas
from local.runner.pacing import paced_bytes, while_running
from local.runner.report import exit_code_of, link_claims, mirror, print_summary, run_record
from local.runner.snapshot import SavedState, check_writable, current_objects, load, restore, save_steps
from local.runner.synth import synthesize_in_child
from local.runner.template_cache import CODE_ROOT, cached_template
from local.runner.world import LocalAws

USER_VIEWS_DIR = "BULK_USER_VIEWS_DIR"  # the environment contract's name (infra.contract)
#: At most one progress update a second while the run moves, and at least one while work is under way.
FOLLOW_SECONDS = 1.0
#: While the execution sits in a Wait state, look at it only this often (or when it moves).
IDLE_SECONDS = 60.0
#: The built-in emulator listens on a new port each run: the template is synthesized (and cached)
#: with this origin in its place, then given the emulator's.
EMULATOR_PLACEHOLDER = "http://127.0.0.1:1"
#: Likewise the download concurrency (it reaches the template only in the functions' BULK_SOURCES, which
#: Start run copies into $.run for the map's MaxConcurrencyPath): one template serves every --concurrency.
CONCURRENCY_PLACEHOLDER = 997
#: How long the first connection to a real server may take before the run says it cannot reach it.
CONNECT_SECONDS = 10.0


@dataclass
class LocalRunOptions:
    # a real server (api set) or the built-in emulator (api None)
    api: str | None = None
    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    private_key: Path | None = None
    key_id: str | None = None
    api_version: str | None = None
    export: str | None = None
    types: tuple[str, ...] | None = None
    since: str = "auto"
    source_name: str | None = None
    concurrency: int = 8
    file_hosts: tuple[str, ...] = ()
    out_dir: Path = Path("out")
    state_dir: Path | None = None
    # the built-in emulator
    flavor: str = "bcda"
    scenario: str = "none"
    patients: int = 100
    seed: int = 1
    advance_days: float = 0.0
    #: slow-export: how many hours (emulator clock, fast-forwarded) the server's job takes
    export_hours: float | None = None
    #: how long Wait states and retry back-offs really last (None: 0 for the emulator, 1 otherwise)
    wait_scale: float | None = None
    #: when the command started (time.monotonic()); the printed run time counts from it (None: now)
    started: float | None = None
    #: a folder of the user's SQL on FHIR ViewDefinitions (cdk.json catalog.views_folder)
    views: Path | None = None


@dataclass
class LocalRunResult:
    exit_code: int
    record: dict[str, Any]
    seconds: float
    #: from the execution's start to its end (without synthesis, set-up and mirroring)
    execution_seconds: float
    waits: list[float]
    history_events: int


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what it left in the state directory."""

    def __init__(self, state_note: str) -> None:
        super().__init__(state_note)
        self.state_note = state_note


@contextlib.contextmanager
def _target(
    options: LocalRunOptions, say: Any, saved: SavedState | None = None
) -> Iterator[tuple[dict[str, Any], dict[str, Any], Any]]:
    """(source config, secret value, emulator or None) for the run."""
    if options.api is None:
        if options.export_hours is not None and "slow-export" not in scenario_names(options.scenario):
            raise LocalRunError("--export-hours goes with --scenario slow-export")
        config = EmulatorConfig(
            flavor=options.flavor,
            scenario=options.scenario,
            patients=options.patients,
            seed=options.seed,
            export_hours=options.export_hours,
        )
        with Emulator(config) as emu:
            if saved is not None and saved.timeline is not None:
                # The watermarks in --state-dir were taken against this timeline: continue it.
                emu.restore_timeline(saved.timeline)
            if options.advance_days:
                emu.advance_data(days=options.advance_days)
            say(f"built-in {options.flavor} emulator at {emu.base_url} ({options.patients} patients, "
                f"scenario {options.scenario})")  # fmt: skip
            secret: dict[str, Any] = {"client_id": emu.client_id}
            if emu.private_key_path:
                secret["private_key_jwk"] = json.loads(Path(emu.private_key_path).read_text())
            else:
                secret["client_secret"] = emu.client_secret
            source = {"name": options.source_name or f"local-{options.flavor}", "api": options.flavor,
                      "base_url": emu.base_url, "token_url": emu.token_url}  # fmt: skip
            yield source, secret, emu
        return
    if not options.base_url:
        raise LocalRunError("--base-url is required with --api")
    secret = credentials_from_options(options)
    _check_reachable(options.base_url)
    source = {"name": options.source_name or options.api, "api": options.api, "base_url": options.base_url,
              "token_url": options.token_url}  # fmt: skip
    say(f"{options.api} server at {options.base_url}")
    yield source, secret, None


def _check_reachable(url: str) -> None:
    """Say at once when nothing listens at the server's address: the state machine would retry
    quietly for minutes before failing with a TransientError."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise LocalRunError(f"nothing answers at {parts.hostname}:{port} ({reason}): check --base-url") from None


def _source_config(source: dict[str, Any], options: LocalRunOptions) -> dict[str, Any]:
    # --export and --types are execution input (as for a manual run of the deployed stack), never the
    # template's; the concurrency is a placeholder here, set after the template comes from the cache.
    config = {**source, "schedule_enabled": False, "download_concurrency": CONCURRENCY_PLACEHOLDER}
    config = {key: value for key, value in config.items() if value is not None}
    if options.api_version:
        config["api_version"] = options.api_version
    if options.file_hosts:
        config["file_hosts"] = list(options.file_hosts)
    return config


def _template(
    config: dict[str, Any], emulator_origin: str | None, say: Any, concurrency: int = CONCURRENCY_PLACEHOLDER
) -> dict[str, Any]:
    """The synthesized template for ``config``, from the cache when nothing changed since."""
    started = time.monotonic()
    text = json.dumps(config)
    if emulator_origin:
        text = text.replace(emulator_origin, EMULATOR_PLACEHOLDER)

    def synthesize(config: dict[str, Any]) -> dict[str, Any]:
        what = "synthesizing the CDK app (once: the template is cached)"
        return while_running(lambda: synthesize_in_child(config, CODE_ROOT), say, what)

    cached = cached_template(json.loads(text), synthesize)
    seconds = time.monotonic() - started
    if cached.synthesized:
        say(f"synthesized the CDK app in {seconds:.1f} s (cached for the next runs)")
    else:
        say(f"template from cache in {seconds:.1f} s (the app has not changed since it was synthesized)")
    text = json.dumps(cached.template)
    if emulator_origin:
        text = text.replace(EMULATOR_PLACEHOLDER, emulator_origin)
    text = re.sub(rf'(download_concurrency\\":\s*){CONCURRENCY_PLACEHOLDER}(?!\d)', rf"\g<1>{concurrency}", text)
    return dict(json.loads(text))


def _execution_input(source: str, options: LocalRunOptions) -> dict[str, Any]:
    document: dict[str, Any] = {"source": source, "since": options.since}
    if options.types:
        document["types"] = list(options.types)
    if options.export:
        document["export"] = options.export
    return document


def _follow(aws: LocalAws, arn: str, progress: Progress) -> dict[str, Any]:
    """Print the run's progress until it ends; its final description."""
    while True:
        ticked = time.monotonic()
        description = aws.describe(arn)
        progress.tick()
        if description["status"] != "RUNNING":
            return description
        # Sleeps through Wait states; reading the (emulated) stack costs time: once a second at most,
        # and once a second at least while work is under way (downloads grow without history events).
        aws.activity.wait(IDLE_SECONDS if progress.waiting else FOLLOW_SECONDS)
        time.sleep(max(0.0, ticked + FOLLOW_SECONDS - time.monotonic()))


def _log_file(out_dir: Path) -> IO[str]:
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    stream = (out_dir / "logs" / "lambda.jsonl").open("a", encoding="utf-8")
    # moto logs a traceback for every failed state; that belongs in the log file, not the terminal.
    handler = logging.StreamHandler(stream)
    for name in ("moto", "botocore.credentials"):
        chatty = logging.getLogger(name)
        chatty.handlers = [handler]
        chatty.propagate = False
    return stream


def _save(aws: LocalAws, state_dir: Path, saved: SavedState | None, timeline: dict[str, Any] | None, say: Any) -> None:
    say(f"saving the state into {state_dir}")
    switched, objects = False, 0
    # unchanged objects are hard links: the bytes copied are this run's new objects
    on_bytes = paced_bytes(say, lambda n: f"saving the state into {state_dir}: {size_text(n)} of new objects so far")
    try:
        for step in save_steps(aws, state_dir, saved, timeline, on_bytes):
            switched = switched or step == "switched"
            if step.startswith("object "):
                objects += 1
        say(f"saved the state into {state_dir} ({objects} objects)")
    except KeyboardInterrupt:
        raise Interrupted(
            "the state directory holds this run's state (it was switched in)"
            if switched
            else "the state directory keeps the state it had before this run (the save was not finished)"
        ) from None


def _claims_line(options: LocalRunOptions, source: str, mirrored: list[str]) -> str:
    """With --state-dir, the source's claims as the state directory holds them (what `bulk-ingest claims
    --state-dir` shows); else the claims this run landed (./out also holds earlier runs')."""
    if options.state_dir:
        return summary_line(current_objects(options.state_dir), source)
    with tempfile.TemporaryDirectory(prefix="bulk-ingest-claims-") as root:
        link_claims(options.out_dir, mirrored, Path(root))
        return summary_line(Path(root), source)


def _restore(aws: LocalAws, saved: SavedState, state_dir: Path, say: Any) -> None:
    total = size_text(sum(int(entry["bytes"] or 0) for entry in saved.objects.values()))
    restore(aws, saved, paced_bytes(say, lambda n: f"restoring {state_dir}: {size_text(n)} of {total}"))
    say(f"restored watermarks, ledger and {len(saved.objects)} landed objects from {state_dir}")


def _mirror(aws: LocalAws, options: LocalRunOptions, run_id: str | None, source: str, say: Any) -> list[str]:
    say(f"copying the run's objects into {options.out_dir}/")
    return mirror(aws, options.out_dir, run_id, source, paced_bytes(say, lambda n: f"{size_text(n)} copied so far"))


def run_local(options: LocalRunOptions, out: IO[str] | None = None) -> LocalRunResult:
    """Run one export; progress and the summary go to ``out`` (default: the current sys.stderr)."""
    out = out or sys.stderr
    started = options.started if options.started is not None else time.monotonic()
    limit_malloc_arenas()  # before the handlers' threads start

    def say(line: str) -> None:
        out.write(f"bulk-ingest local-run: {line}\n")
        out.flush()

    saved = None
    if options.state_dir:
        # before any work: a damaged or read-only state directory is said now, not after the run
        check_writable(options.state_dir)
        saved = load(options.state_dir)
    with _target(options, say, saved) as (source, secret, emu):
        config: dict[str, Any] = {"sources": [_source_config(source, options)]}
        if options.views is not None:
            config["catalog"] = {"views_folder": str(options.views.resolve())}
        template = _template(config, emu.origin if emu else None, say, options.concurrency)
        scale = options.wait_scale if options.wait_scale is not None else (0.0 if emu else 1.0)
        clockwork = Clockwork(scale=scale, on_wait=emu.clock.advance if emu else None)
        options.out_dir.mkdir(parents=True, exist_ok=True)
        with _log_file(options.out_dir) as logs, LocalAws(template, clockwork=clockwork, log_stream=logs) as aws:
            if options.views is not None:  # in AWS the layer's /opt/views; here the folder itself
                os.environ[USER_VIEWS_DIR] = str(options.views.resolve())
            if saved is not None and options.state_dir is not None:
                _restore(aws, saved, options.state_dir, say)
            aws.put_credentials(source["name"], secret)
            arn = aws.start(_execution_input(source["name"], options))
            say(f"started execution {arn.rsplit(':', 1)[-1]} of the synthesized state machine")
            progress = Progress(aws.stepfunctions, aws.table, arn, out, s3=aws.s3, bucket=aws.bucket, started=started)
            try:
                with handler_warnings_to(progress.note):
                    description = _follow(aws, arn, progress)
            except KeyboardInterrupt:
                aws.stepfunctions.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by the user")
                raise
            if options.state_dir:
                _save(aws, options.state_dir, saved, emu.timeline() if emu is not None else None, progress.say)
            history = aws.history(arn)
            record = run_record(aws, description, source["name"], history)
            mirrored = _mirror(aws, options, record["run_id"], source["name"], progress.say)
            (options.out_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
            claims = while_running(
                lambda: _claims_line(options, source["name"], mirrored), progress.say, "summarising the claims"
            )
            seconds = time.monotonic() - started
            print_summary(record, seconds, options.out_dir, out, claims)
            return LocalRunResult(
                exit_code=exit_code_of(record),
                record=record,
                seconds=seconds,
                execution_seconds=(description["stopDate"] - description["startDate"]).total_seconds(),
                waits=list(clockwork.waits),
                history_events=len(history),
            )
