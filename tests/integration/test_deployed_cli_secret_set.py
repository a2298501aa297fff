"""`bulk-ingest secret set`: a source's credentials, checked against its API, from a file or standard input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.cli import main
from tests.support.deployed_stack import CREDENTIALS, REGION, Deployed, deployed, run

__all__ = ["deployed"]  # the fixture


def test_secret_set_from_a_file_stores_the_checked_credentials(deployed: Deployed, capsys, tmp_path) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps(CREDENTIALS))
    code, out, err = run(capsys, "secret", "set", "--source", "bcda-prod", "--file", str(creds), "--region", REGION)
    assert code == 0, err
    assert deployed.secret_value("bcda-prod") == CREDENTIALS
    assert out == ""
    where, stored = err.splitlines()
    assert where == f"bulk-ingest secret set: stack BulkFhirIngest in {REGION}"
    assert re.fullmatch(
        rf"bulk-ingest secret set: stored the bcda credentials of source bcda-prod in "
        rf"{re.escape(deployed.secrets['bcda-prod'])} \(version [0-9a-f-]{{36}}\)",
        stored,
    )
    assert CREDENTIALS["client_secret"] not in err


def test_secret_set_reads_standard_input_when_no_file_is_given(deployed: Deployed, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(json.dumps(CREDENTIALS)))
    code, _out, err = run(capsys, "secret", "set", "--source", "bcda-prod", "--profile", "ops")
    assert code == 0, err
    assert deployed.secret_value("bcda-prod") == CREDENTIALS


class _Stdin:
    """Standard input redirected from a file or pipe (not a terminal)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def isatty(self) -> bool:
        return False

    def read(self) -> str:
        return self._text


def test_there_is_no_option_to_pass_the_credentials_on_the_command_line(deployed: Deployed, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["secret", "set", "--source", "bcda-prod", "--secret-string", json.dumps(CREDENTIALS)])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --secret-string" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "document", "message"),
    [
        ("bcda-prod", "client_id=x", 'the credentials are not valid JSON; a bcda secret is {"client_id": ..., '
                                     '"client_secret": ...}'),
        ("bcda-prod", '["x"]', "the credentials are not a JSON object"),
        ("bcda-prod", {"client_id": "aco-client-7"}, "the credentials do not fit (missing or empty client_secret)"),
        ("bcda-prod", {**CREDENTIALS, "clientSecret": "x"}, "(unexpected clientSecret)"),
        ("bcda-prod", {"client_id": "aco-client-7", "client_secret": ""}, "missing or empty client_secret"),
        ("ehr", CREDENTIALS, "(missing or empty private_key_jwk; unexpected client_secret); a smart secret is "
                             '{"client_id": ..., "private_key_jwk": ...}'),
        ("ehr", {"client_id": "app", "private_key_jwk": "not-an-object"}, "private_key_jwk must be a JWK object"),
    ],
)  # fmt: skip
def test_secret_set_refuses_credentials_of_the_wrong_shape_and_never_quotes_them(
    deployed: Deployed, capsys, tmp_path, source: str, document: Any, message: str
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(document if isinstance(document, str) else json.dumps(document))
    code, _out, err = run(capsys, "secret", "set", "--source", source, "--file", str(creds), "--region", REGION)
    assert code == 2
    assert message in err.splitlines()[-1]
    assert "s3cr3t" not in err and "client_id=x" not in err
    assert deployed.secret_value(source) is None  # nothing stored


def _rsa_jwk(**members: Any) -> dict[str, Any]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key)), **members}


def test_secret_set_for_a_smart_source_needs_a_usable_private_jwk_with_a_kid(deployed: Deployed, capsys, tmp_path):
    creds = tmp_path / "creds.json"
    good = _rsa_jwk(kid="key-1", alg="RS384")
    refused = {
        "private_key_jwk has no kid": {k: v for k, v in good.items() if k != "kid"},
        "holds a public key; the private key (member 'd') is needed": {k: v for k, v in good.items() if k != "d"},
        "signed with RS384 or ES384; the key says 'RS256'": {**good, "alg": "RS256"},
    }
    for message, jwk in refused.items():
        creds.write_text(json.dumps({"client_id": "app", "private_key_jwk": jwk}))
        code, _out, err = run(capsys, "secret", "set", "--source", "ehr", "--file", str(creds), "--region", REGION)
        assert (code, message in err) == (2, True), err
        assert good["d"] not in err
    creds.write_text(json.dumps({"client_id": "app", "private_key_jwk": good}))
    code, _out, err = run(capsys, "secret", "set", "--source", "ehr", "--file", str(creds), "--region", REGION)
    assert code == 0, err
    assert deployed.secret_value("ehr") == {"client_id": "app", "private_key_jwk": good}


def test_secret_set_of_an_unknown_source_lists_the_stacks_sources(deployed: Deployed, capsys, tmp_path) -> None:
    (tmp_path / "x").write_text("{}")
    code, _out, err = run(
        capsys, "secret", "set", "--source", "bcda", "--file", str(tmp_path / "x"), "--region", REGION
    )
    assert code == 2
    assert err == "bulk-ingest secret set: stack BulkFhirIngest has no source 'bcda' (it has bcda-prod, ehr)\n"
