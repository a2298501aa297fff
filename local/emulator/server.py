"""The `Emulator`: starts the listener(s) of one flavour and exposes what tests need to see and steer."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any

from local.emulator import scenarios
from local.emulator.admin import admin_response
from local.emulator.clock import Clock
from local.emulator.config import EmulatorConfig
from local.emulator.examples import ExamplePopulation
from local.emulator.exports import Exporter
from local.emulator.files import EMPTY_GZIP_MEMBER
from local.emulator.flavors import ab2d_kickoff
from local.emulator.flavors.ab2d import Ab2d
from local.emulator.flavors.bcda import Bcda
from local.emulator.flavors.smart import Smart
from local.emulator.jobs import JobStore
from local.emulator.population import Population
from local.emulator.records import JobRecord, RequestRecord, ServedFile
from local.emulator.state import State
from local.emulator.tokens import AssertionVerifier, TokenIssuer
from local.emulator.wire import Listener, Request, Response

_FLAVORS: dict[str, Any] = {"bcda": Bcda, "ab2d": Ab2d, "smart": Smart}


def _credentials(config: EmulatorConfig) -> tuple[str, str | None]:
    digest = hashlib.sha256(f"emulator:{config.flavor}:{config.seed}".encode()).hexdigest()
    default_id = {
        "bcda": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}",
        "ab2d": f"0oa{digest[:17]}",
        "smart": f"smart-client-{digest[:12]}",
    }[config.flavor]
    secret = None if config.flavor == "smart" else (config.client_secret or digest[32:64])
    return config.client_id or default_id, secret


class Emulator:
    """A CMS-like bulk FHIR server on loopback. Use as a context manager or call start()/stop()."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        self.config = config or EmulatorConfig(**overrides)
        self.clock = Clock()
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._tmp: Path | None = None
        self.state: State | None = None

    # ---- lifecycle
    def start(self) -> Emulator:
        config = self.config
        self._tmp = Path(tempfile.mkdtemp(prefix="cms-emulator-"))
        population = (
            ExamplePopulation(config.seed, config.cms_example)
            if config.has("cms-examples")
            else Population(config.seed, config.patients, config.data_load_time)
        )
        self.clock.catch_up(population.load_time)
        client_id, secret = _credentials(config)
        verifier = AssertionVerifier(client_id, config.smart_key_alg, self._tmp) if config.flavor == "smart" else None
        self.state = State(
            config=config,
            clock=self.clock,
            population=population,
            exporter=Exporter(population, config),
            jobs=JobStore(clock=self.clock.now, unattended_seconds=lambda: config.unattended_seconds),
            issuer=TokenIssuer(f"cms-emulator-{config.flavor}"),
            client_id=client_id,
            client_secret=secret,
            verifier=verifier,
        )
        flavor = _FLAVORS[config.flavor](self.state)
        self._flavor = flavor
        self._listeners.append(Listener(config.host, config.port, "api", self._answer, self._record, self.clock.now))
        if config.has("foreign-file-host"):
            files = Listener(config.host, 0, "file-host", self._answer, self._record, self.clock.now)
            self._listeners.append(files)
            self.state.file_host_origin = f"http://localhost:{files.port}"
        for listener in self._listeners:
            threading.Thread(
                target=listener.serve_forever, args=(0.05,), name=f"emulator-{listener.name}", daemon=True
            ).start()
        return self

    def stop(self) -> None:
        for listener in self._listeners:
            listener.shutdown()
            listener.server_close()
        self._listeners.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _answer(self, request: Request) -> Response:
        if request.path.startswith("/_emulator/") and request.listener == "api":
            return admin_response(self, request)
        response: Response = self._flavor.handle(scenarios.named_by_query(request))
        return response

    def _record(self, request: Request, status: int, sent: int) -> None:
        if request.path.startswith("/_emulator/"):
            return
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query,
            host=request.header("Host"),
            listener=request.listener,
            authorization=request.header("Authorization"),
            status=status,
            bytes_sent=sent,
            at=request.received_at,
        )
        with self._records_lock:
            self._records.append(record)

    # ---- where to connect
    @property
    def _state(self) -> State:
        if self.state is None:
            raise RuntimeError("the emulator is not running: call start() or use `with Emulator(...)`")
        return self.state

    @property
    def port(self) -> int:
        return self._listeners[0].port

    @property
    def origin(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """BCDA/AB2D: the host root (clients add /api/v2/...); SMART: the FHIR base."""
        return f"{self.origin}/fhir" if self.config.flavor == "smart" else self.origin

    @property
    def token_url(self) -> str:
        return self.origin + self._flavor.auth_path

    @property
    def client_id(self) -> str:
        return self._state.client_id

    @property
    def client_secret(self) -> str | None:
        return self._state.client_secret

    @property
    def private_key_path(self) -> str | None:
        verifier = self._state.verifier
        return str(verifier.private_key_path) if verifier else None

    @property
    def file_host_url(self) -> str | None:
        return self._state.file_host_origin

    @property
    def last_since_default(self) -> Any:
        """AB2D v2: the _since the server would apply now to a kick-off without one."""
        return self._state.last_since_default

    # ---- what happened
    def requests(self, settle: float = 60.0) -> list[RequestRecord]:
        """Requests answered so far, oldest first; waits for answers in progress (it returns at once when
        none is; the bound is generous so that a loaded machine does not lose the last record)."""
        for listener in self._listeners:
            listener.settle(settle)
        with self._records_lock:
            return list(self._records)

    def jobs(self) -> list[JobRecord]:
        return [job.record() for job in self._state.jobs.all() if not job.hidden]

    def _file(self, url: str) -> ServedFile:
        path = scenarios.served_path(url)
        for job in self._state.jobs.all():
            for served in job.files:
                if scenarios.served_path(served.url) == path:
                    return served
        raise KeyError(f"no manifest file has the URL {url}")

    def file_ndjson(self, url: str) -> bytes:
        """The NDJSON content of a manifest file."""
        return self._file(url).stored.raw_bytes()

    def file_gzip(self, url: str) -> bytes:
        """The bytes a full `Accept-Encoding: gzip` GET of the file sends (with BCDA's extra member)."""
        stored = self._file(url).stored
        tail = EMPTY_GZIP_MEMBER if self.config.empty_gzip_member and stored.gzip_on_disk else b""
        return stored.gz_bytes() + tail

    # ---- steering
    def add_running_job(self, query: str, version: str = "v2") -> JobRecord:
        """AB2D: an export another client of the organisation started (its request: `query`). AB2D's
        429 names it among the running jobs; it is nobody's to adopt but a client asking exactly that."""
        if self.config.flavor != "ab2d":
            raise ValueError("add_running_job imitates AB2D's organisation-wide job list")
        url = f"{self.origin}/api/{version}/fhir/Patient/$export" + (f"?{query}" if query else "")
        other = SimpleNamespace(origin=self.origin, url=url)
        job = ab2d_kickoff.new_job(self._state, other, version, "patient", None, None)  # type: ignore[arg-type]
        return job.record()

    def load_data_at(self, load_time: datetime) -> None:
        """A data load at exactly ``load_time`` (the cms-examples scenario's export dates): exports
        kicked off from now on see what the server holds at that time."""
        population = self._state.population
        population.advance(load_time, changes_after=population.load_time)

    def advance_data(self, days: float = 30) -> None:
        """ "A month passes": the clock moves `days` forward and BFD loads new data an hour before
        the new now — new claims and versions (loaded after the old now), new beneficiaries."""
        before = self.clock.now()
        self.clock.advance(days * 86400)
        population = self._state.population
        load_time = max(self.clock.now() - timedelta(hours=1), population.load_time + timedelta(seconds=1))
        population.advance(load_time, changes_after=before)
        self.clock.catch_up(load_time)

    def timeline(self) -> dict[str, Any]:
        """Where the emulator's time and data stand: enough for `restore_timeline` in a later
        process to continue from here (a local run's --state-dir keeps it)."""
        population = self._state.population
        return {
            "clock_offset_seconds": self.clock.offset_seconds,
            "loads": [
                {"load_time": load.isoformat(), "changes_after": after.isoformat()}
                for load, after in zip(population.load_times[1:], population.changes_after[1:], strict=True)
            ],
        }

    def restore_timeline(self, timeline: dict[str, Any]) -> None:
        """Replay the data loads of an earlier emulator (same seed and size give the same data)."""
        population = self._state.population
        for load in timeline.get("loads", []):
            load_time = datetime.fromisoformat(load["load_time"])
            if load_time > population.load_time:
                population.advance(load_time, changes_after=datetime.fromisoformat(load["changes_after"]))
        behind = float(timeline.get("clock_offset_seconds", 0)) - self.clock.offset_seconds
        if behind > 0:
            self.clock.advance(behind)
        self.clock.catch_up(population.load_time)

    def describe(self) -> dict[str, Any]:
        """What the CLI prints: where to connect and with which credentials."""
        described: dict[str, Any] = {
            "base_url": self.base_url,
            "token_url": self.token_url,
            "client_id": self.client_id,
        }
        if self.config.flavor == "smart":
            described["private_key"] = self.private_key_path
        else:
            described["client_secret"] = self.client_secret
        return described

    def job_dicts(self) -> list[dict[str, Any]]:
        """emu.jobs() as JSON-ready dicts (for the admin endpoint)."""

        def iso(moment: Any) -> str | None:
            return moment.isoformat() if moment is not None else None

        return [
            {
                "id": job.id,
                "status_url": job.status_url,
                "status": job.status,
                "request_url": job.request_url,
                "since": iso(job.since),
                "types": list(job.types),
                "created_at": iso(job.created_at),
                "transaction_time": iso(job.transaction_time),
                "files": [{"kind": f.kind, "type": f.type, "url": f.url} for f in job.files],
            }
            for job in self.jobs()
        ]
