"""How fast the emulator serves one large file on loopback (a script that prints figures, not a test).

    python -m local.emulator.bench [--flavor bcda] [--mb 256] [--repeat 3]

Serves a large-files export, then downloads one EOB file with curl and with a Python `requests`
client, in gzip mode (the stored bytes) and in identity mode (decompressed on the fly).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time

import requests

from local.emulator.config import EmulatorConfig
from local.emulator.server import Emulator

CHUNK = 1 << 20


def _token(emu: Emulator) -> str:
    flavor = emu.config.flavor
    if flavor == "bcda":
        response = requests.post(emu.token_url, auth=(emu.client_id, emu.client_secret or ""), data="", timeout=60)
    else:
        form = {"grant_type": "client_credentials", "scope": "clientCreds"}
        response = requests.post(emu.token_url, auth=(emu.client_id, emu.client_secret or ""), data=form, timeout=60)
    return str(response.json()["access_token"])


def _file_url(emu: Emulator, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json", "Prefer": "respond-async"}
    path = "/api/v2/Patient/$export?_type=ExplanationOfBenefit"
    if emu.config.flavor == "ab2d":
        path = "/api/v2/fhir/Patient/$export"
    status_url = requests.get(emu.base_url + path, headers=headers, timeout=60).headers["Content-Location"]
    while (response := requests.get(status_url, headers=headers, timeout=60)).status_code == 202:
        emu.clock.advance(5)
    return str(response.json()["output"][0]["url"])


def _curl(url: str, token: str, encoding: str) -> tuple[int, float]:
    command = [
        "curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
        "-H", f"Authorization: Bearer {token}", "-H", f"Accept-Encoding: {encoding}", url,
    ]  # fmt: skip
    # a fixed argv without a shell
    completed = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    size, seconds = completed.stdout.split()
    return int(size), float(seconds)


def _python(url: str, token: str, encoding: str) -> tuple[int, float]:
    began = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": encoding}
    size = 0
    with requests.get(url, headers=headers, stream=True, timeout=60) as response:
        while chunk := response.raw.read(CHUNK, decode_content=False):
            size += len(chunk)
    return size, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flavor", choices=("bcda", "ab2d"), default="bcda")
    parser.add_argument("--mb", type=float, default=256.0, help="size of the file to serve, in MB of NDJSON")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = EmulatorConfig(flavor=args.flavor, scenario="large-files", file_mb=args.mb, large_file_count=1)
    config.max_downloads = 10**6
    with Emulator(config) as emu:
        token = _token(emu)
        url = _file_url(emu, token)
        emu.file_gzip(url)  # build (and hash) it before timing anything
        clients = [("python requests", _python)] + ([("curl", _curl)] if shutil.which("curl") else [])
        for encoding in ("gzip", "identity"):
            for name, fetch in clients:
                best = 0.0
                for _ in range(args.repeat):
                    size, seconds = fetch(url, token, encoding)
                    best = max(best, size / seconds / 1e6)
                print(f"{args.flavor} {encoding:8} {name:16} {size / 1e6:8.1f} MB  best {best:7.1f} MB/s")


if __name__ == "__main__":
    main()
