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
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.claims.summary import summary_line
from local.emulator import Emulator, EmulatorConfig
from local.follow import Progress
from local.runner.clockwork import Clockwork
from local.runner.credentials import credentials_from_options
from local.runner.errors import LocalRunError
from local.runner.malloc_arenas import limit_malloc_arenas
from local.runner.report import mirror, print_summary, run_record
from local.runner.snapshot import restore, save
from local.runner.synth import synthesize_in_child
from local.runner.template_cache import CODE_ROOT, cached_template
from local.runner.world import LocalAws

USER_VIEWS_DIR = "BULK_USER_VIEWS_DIR"  # the environment contract's name (infra.contract)
#: At most one progress update a second while the run moves; none while it waits.
FOLLOW_SECONDS = 1.0
#: While nothing happens (a Wait state), look at the execution only this often.
IDLE_SECONDS = 60.0
#: The built-in emulator listens on a new port each run: the template is synthesized (and cached)
#: with this origin in its place, then given the emulator's.
EMULATOR_PLACEHOLDER = "http://127.0.0.1:1"


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


@contextlib.contextmanager
def _target(options: LocalRunOptions, say: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any], Any]]:
    """(source config, secret value, emulator or None) for the run."""
    if options.api is None:
        if options.export_hours is not None and options.scenario != "slow-export":
            raise LocalRunError("--export-hours goes with --scenario slow-export")
        config = EmulatorConfig(
            flavor=options.flavor,
            scenario=options.scenario,
            patients=options.patients,
            seed=options.seed,
            export_hours=options.export_hours,
        )
        with Emulator(config) as emu:
            timeline = options.state_dir / "emulator-timeline.json" if options.state_dir else None
            if timeline and timeline.exists():
                # The watermarks in --state-dir were taken against this timeline: continue it.
                emu.restore_timeline(json.loads(timeline.read_text()))
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
    source = {"name": options.source_name or options.api, "api": options.api, "base_url": options.base_url,
              "token_url": options.token_url}  # fmt: skip
    say(f"{options.api} server at {options.base_url}")
    yield source, secret, None


def _source_config(source: dict[str, Any], options: LocalRunOptions) -> dict[str, Any]:
    config = {**source, "schedule_enabled": False, "download_concurrency": options.concurrency}
    config = {key: value for key, value in config.items() if value is not None}
    if options.api_version:
        config["api_version"] = options.api_version
    if options.export:
        config["export"] = options.export
    if options.types:
        config["types"] = list(options.types)
    if options.file_hosts:
        config["file_hosts"] = list(options.file_hosts)
    return config


def _template(config: dict[str, Any], emulator_origin: str | None, say: Any) -> dict[str, Any]:
    """The synthesized template for ``config``, from the cache when nothing changed since."""
    started = time.monotonic()
    text = json.dumps(config)
    if emulator_origin:
        text = text.replace(emulator_origin, EMULATOR_PLACEHOLDER)
    cached = cached_template(json.loads(text), lambda c: synthesize_in_child(c, CODE_ROOT))
    seconds = time.monotonic() - started
    if cached.synthesized:
        say(f"synthesized the CDK app in {seconds:.1f} s (cached for the next runs)")
    else:
        say(f"template from cache in {seconds:.1f} s (the app has not changed since it was synthesized)")
    text = json.dumps(cached.template)
    if emulator_origin:
        text = text.replace(EMULATOR_PLACEHOLDER, emulator_origin)
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
        # Sleeps through Wait states; reading the (emulated) stack costs time: once a second at most.
        aws.activity.wait(IDLE_SECONDS)
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


def run_local(options: LocalRunOptions, out: IO[str] | None = None) -> LocalRunResult:
    """Run one export; progress and the summary go to ``out`` (default: the current sys.stderr)."""
    out = out or sys.stderr
    started = time.monotonic()
    limit_malloc_arenas()  # before the handlers' threads start

    def say(line: str) -> None:
        out.write(f"bulk-ingest local-run: {line}\n")
        out.flush()

    with _target(options, say) as (source, secret, emu):
        config: dict[str, Any] = {"sources": [_source_config(source, options)]}
        if options.views is not None:
            config["catalog"] = {"views_folder": str(options.views.resolve())}
        template = _template(config, emu.origin if emu else None, say)
        scale = options.wait_scale if options.wait_scale is not None else (0.0 if emu else 1.0)
        clockwork = Clockwork(scale=scale, on_wait=emu.clock.advance if emu else None)
        options.out_dir.mkdir(parents=True, exist_ok=True)
        with _log_file(options.out_dir) as logs, LocalAws(template, clockwork=clockwork, log_stream=logs) as aws:
            if options.views is not None:  # in AWS the layer's /opt/views; here the folder itself
                os.environ[USER_VIEWS_DIR] = str(options.views.resolve())
            if options.state_dir and restore(aws, options.state_dir):
                say(f"restored watermarks, ledger and landed objects from {options.state_dir}")
            aws.put_credentials(source["name"], secret)
            arn = aws.start(_execution_input(source["name"], options))
            say(f"started execution {arn.rsplit(':', 1)[-1]} of the synthesized state machine")
            progress = Progress(aws.stepfunctions, aws.table, arn, out)
            try:
                description = _follow(aws, arn, progress)
            except KeyboardInterrupt:
                aws.stepfunctions.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by the user")
                raise
            if options.state_dir:
                save(aws, options.state_dir)
                if emu is not None:
                    (options.state_dir / "emulator-timeline.json").write_text(json.dumps(emu.timeline(), indent=1))
            history = aws.history(arn)
            record = run_record(aws, description, source["name"], history)
            mirror(aws, options.out_dir, record["run_id"], source["name"])
            (options.out_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
            seconds = time.monotonic() - started
            print_summary(record, seconds, options.out_dir, out, summary_line(options.out_dir, source["name"]))
            return LocalRunResult(
                exit_code=0 if record["status"] == "SUCCEEDED" else 1,
                record=record,
                seconds=seconds,
                execution_seconds=(description["stopDate"] - description["startDate"]).total_seconds(),
                waits=list(clockwork.waits),
                history_events=len(history),
            )
