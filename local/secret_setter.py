"""`bulk-ingest secret set`: put a source's credentials into its secret, from a file or standard input.

Never from a command-line argument, which would land in the shell history and the process list. The
JSON is checked against the source's API (docs/architecture.md §5) before it is stored, and no part
of it is ever printed. The secret is found through the stack's ``Sources`` output.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bulkfhir.credentials import Secret
from bulkfhir.errors import AuthenticationError
from bulkfhir.smart_auth import client_assertion
from infra import outputs
from local import stack_access
from local.stack_access import DeployedError

_COMMAND = "bulk-ingest secret set"
#: The keys of each API's secret.
SHAPES = {
    "bcda": ("client_id", "client_secret"),
    "ab2d": ("client_id", "client_secret"),
    "smart": ("client_id", "private_key_jwk"),
}


def add_arguments(sub: Any) -> None:
    secret = sub.add_parser("secret", help="a source's credentials in the deployed stack")
    actions = secret.add_subparsers(dest="action", required=True)
    put = actions.add_parser(
        "set",
        help="put a source's credentials into its secret, from a file or standard input",
        description='The JSON is {"client_id", "client_secret"} (bcda, ab2d) or {"client_id", "private_key_jwk"} '
        "(smart, a private JWK with kid and alg RS384 or ES384). It is never taken from the command line.",
    )
    put.add_argument("--source", required=True, help="a source configured in cdk.json")
    put.add_argument("--file", type=Path, help="a file holding the JSON (default: read standard input)")
    stack_access.add_arguments(put, region_from_arn=False)


def check_credentials(api: str, text: str) -> dict[str, Any]:
    """The credentials as the functions will read them; a ``DeployedError`` (never quoting them) if not."""
    expected = SHAPES[api]
    shape = f"a {api} secret is {{" + ", ".join(f'"{key}": ...' for key in expected) + "}"
    try:
        document = json.loads(text)
    except ValueError:
        raise DeployedError(f"the credentials are not valid JSON; {shape}") from None
    if not isinstance(document, dict):
        raise DeployedError(f"the credentials are not a JSON object; {shape}")
    missing = [key for key in expected if not document.get(key)]
    unexpected = sorted(set(document) - set(expected))
    if missing or unexpected:
        problems = [f"missing or empty {key}" for key in missing]
        problems += [f"unexpected {', '.join(unexpected)}"] if unexpected else []
        raise DeployedError(f"the credentials do not fit ({'; '.join(problems)}); {shape}")
    if not isinstance(document["client_id"], str):
        raise DeployedError("client_id must be a string")
    if api == "smart":
        _check_private_key(document["client_id"], document["private_key_jwk"])
    elif not isinstance(document["client_secret"], str):
        raise DeployedError("client_secret must be a string")
    return document


def _check_private_key(client_id: str, jwk: Any) -> None:
    if not isinstance(jwk, dict):
        raise DeployedError("private_key_jwk must be a JWK object (a private key with kid and alg)")
    if not jwk.get("kid"):
        raise DeployedError("private_key_jwk has no kid: add the key id registered with the server")
    try:
        # Signing one assertion proves the key is what Authenticate will need (RS384/ES384, private).
        client_assertion(client_id, "https://token.invalid/", Secret(json.dumps(jwk)), datetime.now(UTC))
    except AuthenticationError as error:
        raise DeployedError(str(error)) from None


def _read(args: argparse.Namespace, stdin: IO[str], err: IO[str]) -> str:
    if args.file is not None:
        try:
            return str(args.file.read_text())
        except OSError as error:
            raise DeployedError(f"cannot read --file {args.file}: {error.strerror}") from None
    if stdin.isatty():
        err.write("paste the JSON, then press Ctrl-D\n")
    return stdin.read()


def _source_secret(found: dict[str, str], args: argparse.Namespace) -> tuple[str, str]:
    """(api, secret ARN) of ``args.source`` from the stack's Sources output."""
    if outputs.SOURCES not in found:
        raise DeployedError(f"stack {args.stack} has no {outputs.SOURCES} output: deploy this version with cdk deploy")
    sources = json.loads(found[outputs.SOURCES])
    if args.source not in sources:
        raise DeployedError(f"stack {args.stack} has no source {args.source!r} (it has {', '.join(sorted(sources))})")
    return str(sources[args.source]["api"]), str(sources[args.source]["secret_arn"])


def run(args: argparse.Namespace, stdin: IO[str] | None = None, err: IO[str] | None = None) -> int:
    stdin, err = stdin or sys.stdin, err or sys.stderr
    return stack_access.exit_code(_COMMAND, err, lambda: _set(args, stdin, err))


def _set(args: argparse.Namespace, stdin: IO[str], err: IO[str]) -> int:
    # A file that cannot be read is said before any AWS call (it used to be reported as missing credentials).
    text = _read(args, stdin, err) if args.file is not None else None
    aws = stack_access.connect(args)
    api, secret_arn = _source_secret(stack_access.stack_outputs(aws.client("cloudformation"), args.stack), args)
    err.write(f"{_COMMAND}: {aws.where(f'stack {args.stack}')}\n")
    credentials = check_credentials(api, text if text is not None else _read(args, stdin, err))
    version = aws.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps(credentials))
    err.write(f"{_COMMAND}: stored the {api} credentials of source {args.source} in {secret_arn} "
              f"(version {version['VersionId']})\n")  # fmt: skip
    return 0
