"""token-expiry under parallel downloads: one client (one shared token) and 8 or 16 threads, as the
local run's download Lambdas share it. Every download must succeed: the token that replaces the
expired one is fresh, and a real server does not expire a fresh token within milliseconds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bulkfhir import ExportComplete, ExportRequest
from local.emulator import Emulator, EmulatorConfig
from tests.support.emulated import client_of


@pytest.mark.parametrize("flavor", ["bcda", "ab2d"])
@pytest.mark.parametrize("threads", [8, 16])
def test_parallel_downloads_share_the_refreshed_token(flavor: str, threads: int) -> None:
    target = "Patient" if flavor == "ab2d" else "Group/all"
    config = EmulatorConfig(
        flavor=flavor, scenario="token-expiry", job_polls=0, token_expiry_after_calls=2, max_downloads=32
    )
    with Emulator(config) as emu:
        client = client_of(emu)
        status_url = client.kick_off(ExportRequest(target=target)).status_url  # type: ignore[union-attr]
        complete = client.check_status(status_url)
        assert isinstance(complete, ExportComplete)
        urls = [entry.url for entry in complete.manifest.output]
        start = threading.Barrier(threads)

        def download(index: int) -> int:
            start.wait()
            with client.open_file(urls[index % len(urls)]) as body:
                return sum(len(chunk) for chunk in body.iter_raw())

        with ThreadPoolExecutor(threads) as pool:
            sizes = list(pool.map(download, range(threads)))

        refused = [r for r in emu.requests() if r.status in (401, 403)]
    assert all(sizes)
    assert refused, "the first token did expire early"
