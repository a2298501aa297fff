"""What must never leave the server's side of a run: the client's credentials, the tokens the server
issued, and the signatures of pre-signed file URLs. The soak looks for them where a run writes:
its execution history, its ledger entry and the handlers' log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from local.emulator import Emulator
from local.emulator.records import RequestRecord

#: Query parameters of a pre-signed URL that are credentials (the signature, and the key that signed it)
SIGNING_PARAMETERS = ("X-Amz-Signature", "X-Amz-Credential")
#: Shorter values would match by chance (a credential part such as a date or a region)
MIN_SECRET_CHARS = 8


def secrets_seen(emu: Emulator, records: Iterable[RequestRecord]) -> set[str]:
    """The client's secret (or private key), and every bearer token and URL signature in ``records``."""
    found = {emu.client_secret} if emu.client_secret else set()
    if emu.private_key_path:
        jwk = json.loads(Path(emu.private_key_path).read_text())
        found |= {str(jwk[k]) for k in ("d", "p", "q") if k in jwk}
    for record in records:
        header = record.authorization or ""
        if header.startswith("Bearer "):
            found.add(header[len("Bearer ") :])
        for name, value in parse_qsl(record.query):
            if name in SIGNING_PARAMETERS:
                found |= {value, value.split("/", 1)[0]}  # a credential's access key id on its own too
    return {secret for secret in found if len(secret) >= MIN_SECRET_CHARS}


def leaked(secrets: set[str], *texts: Any) -> list[str]:
    """The secrets found in any of ``texts`` (strings, or anything JSON can write), each shown by its start."""
    blob = "\n".join(text if isinstance(text, str) else json.dumps(text, default=str) for text in texts)
    return sorted(f"{secret[:4]}…" for secret in secrets if secret in blob)
