import pytest

from ingest.errors import ConfigurationError


def test_credentials_are_read_and_cached(aws):
    arn = aws.put_secret("bcda-sandbox", {"client_id": "aco", "client_secret": "s3cr3t"})
    source = aws.credentials()
    creds = source.credentials(arn)
    assert creds.client_id == "aco"
    assert creds.client_secret.reveal() == "s3cr3t"
    aws.secrets.put_secret_value(SecretId=arn, SecretString='{"client_id": "changed", "client_secret": "x"}')
    assert source.credentials(arn).client_id == "aco"  # cached for five minutes


def test_a_secret_created_empty_says_how_to_fill_it(aws):
    arn = aws.put_secret("empty-secret", None)
    with pytest.raises(ConfigurationError, match=r"has no value yet") as caught:
        aws.credentials().credentials(arn)
    assert "bulk-ingest secret set --source <source> --file creds.json" in str(caught.value)
    # the whole ARN: its name part ends in the random suffix, which a --secret-id name must not carry
    assert f"put-secret-value --secret-id {arn} --secret-string" in str(caught.value)


def test_a_secret_that_is_not_json_is_not_echoed(aws):
    arn = aws.put_secret("bad", "client_id=aco;client_secret=hunter2")
    with pytest.raises(ConfigurationError, match="not a JSON object") as caught:
        aws.credentials().credentials(arn)
    assert "hunter2" not in str(caught.value)


def test_a_placeholder_secret_names_the_missing_keys(aws):
    arn = aws.put_secret("placeholder", {"client_id": "", "client_secret": ""})
    with pytest.raises(ConfigurationError, match="client_id and client_secret"):
        aws.credentials().credentials(arn)


def test_events_are_published(aws):
    aws.publisher().publish("ExportLanded", {"source": "bcda", "run_id": "r"})
