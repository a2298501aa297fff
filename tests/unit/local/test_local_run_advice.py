"""What `local-run` advises after a failed run follows the server's API."""

from __future__ import annotations

import pytest

from local.runner.cli import what_to_do


def test_smart_authentication_advice_speaks_of_keys_not_bcda_secrets() -> None:
    advice = what_to_do("AuthenticationError", "smart")

    assert "90 days" not in advice
    assert "private key" in advice and "kid" in advice


@pytest.mark.parametrize(("api", "said"), [("bcda", "90 days"), ("ab2d", "rotated")])
def test_bcda_and_ab2d_advice_names_their_own_credentials(api: str, said: str) -> None:
    assert said in what_to_do("AuthenticationError", api)


def test_other_errors_keep_their_advice() -> None:
    assert "run again" in what_to_do("TransientError", "smart")
