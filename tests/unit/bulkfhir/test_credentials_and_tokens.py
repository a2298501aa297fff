import json
import pickle

import pytest

from bulkfhir import ClientCredentials, Secret
from bulkfhir.tokens import parse_expires_in


def test_secrets_never_show_in_repr_str_or_pickles():
    creds = ClientCredentials.from_mapping({"client_id": "aco-1", "client_secret": "hunter2-very-secret"})
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in str(creds)
    assert "hunter2" not in f"{creds.client_secret}"
    with pytest.raises(TypeError):
        pickle.dumps(creds)
    assert creds.client_secret == Secret("hunter2-very-secret")


def test_private_jwk_may_be_an_object_or_text():
    jwk = {"kty": "EC", "crv": "P-384", "d": "secret-part"}
    creds = ClientCredentials.from_mapping({"client_id": "c", "private_key_jwk": jwk})
    assert creds.private_key_jwk is not None
    assert json.loads(creds.private_key_jwk.reveal()) == jwk
    assert "secret-part" not in repr(creds)


def test_incomplete_secret_names_the_keys_found_but_not_their_values():
    with pytest.raises(ValueError, match="found keys: clientSecret, client_id") as caught:
        ClientCredentials.from_mapping({"client_id": "c", "clientSecret": "typo-value"})
    assert "typo-value" not in str(caught.value)


@pytest.mark.parametrize(("raw", "seconds"), [("1200", 1200.0), (1800, 1800.0), (299.5, 299.5), (None, 300.0)])
def test_expires_in_as_string_or_number(raw, seconds):
    # BCDA writes "expires_in": "1200" (a string); Okta writes 1800
    assert parse_expires_in(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", -5, 0, True, [1], "nan"])
def test_unreadable_expires_in_is_rejected(raw):
    with pytest.raises(ValueError):
        parse_expires_in(raw)
