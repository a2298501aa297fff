"""The mutable state every flavour shares: config, clock, data, jobs, tokens and fault counters."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from local.emulator.clock import Clock
from local.emulator.config import EmulatorConfig
from local.emulator.exports import Exporter
from local.emulator.jobs import JobStore
from local.emulator.population import Population
from local.emulator.tokens import AssertionVerifier, TokenIssuer


@dataclass
class State:
    config: EmulatorConfig
    clock: Clock
    population: Population
    exporter: Exporter
    jobs: JobStore
    issuer: TokenIssuer
    client_id: str
    client_secret: str | None
    verifier: AssertionVerifier | None = None
    file_host_origin: str | None = None  # foreign-file-host: where manifest file URLs point
    last_since_default: datetime | None = None  # AB2D v2: the _since applied when none is given
    counters: dict[str, int] = field(default_factory=dict)
    worn_tokens: set[str] = field(default_factory=set)  # token-expiry: the tokens that died early
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> datetime:
        return self.clock.now()

    def bump(self, name: str) -> int:
        """Increment a named counter and return its new value."""
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            return self.counters[name]

    def count(self, name: str) -> int:
        with self.lock:
            return self.counters.get(name, 0)

    def scenario(self, *names: str) -> bool:
        return self.config.has(*names)

    def file_origin(self, request_origin: str) -> str:
        return self.file_host_origin or request_origin
