import os

import pytest

from ingest.errors import ConfigurationError


def test_a_small_file_is_put_straight_to_its_key_with_metadata(aws):
    upload = aws.landing().open_upload("staging/src/run/00001.ndjson.gz")
    upload.write(b"abc")
    upload.write(b"def")
    upload.land("fhir/src/Patient/x.ndjson.gz", {"sha256": "f" * 64, "lines": "2"})
    obj = aws.s3.get_object(Bucket="landing-bucket", Key="fhir/src/Patient/x.ndjson.gz")
    assert obj["Body"].read() == b"abcdef"
    assert obj["Metadata"] == {"sha256": "f" * 64, "lines": "2"}
    assert aws.list_keys("staging/") == []


def test_a_large_file_streams_through_staging_and_is_copied_once(aws):
    part = 5 * 1024 * 1024
    data = os.urandom(part * 2 + 12345)
    upload = aws.landing(part_size=part).open_upload("staging/src/run/00002.ndjson.gz")
    for start in range(0, len(data), 1 << 20):
        upload.write(data[start : start + (1 << 20)])
    upload.land("fhir/src/EOB/y.ndjson.gz", {"lines": "9"})
    obj = aws.s3.get_object(Bucket="landing-bucket", Key="fhir/src/EOB/y.ndjson.gz")
    assert obj["Body"].read() == data
    assert obj["Metadata"] == {"lines": "9"}
    assert len(aws.object_versions("fhir/src/EOB/y.ndjson.gz")) == 1
    assert aws.list_keys("staging/") == []  # deleted after the copy


def test_checkpoint_stores_the_bytes_so_far_at_the_staging_key(aws):
    part = 5 * 1024 * 1024
    data = os.urandom(part + 100)
    upload = aws.landing(part_size=part).open_upload("staging/src/run/00003.ndjson.gz")
    upload.write(data)
    key = upload.checkpoint()
    assert key == "staging/src/run/00003.ndjson.gz"
    assert b"".join(aws.landing().read_stream(key, 4096)) == data


def test_abort_leaves_no_object_and_no_open_upload(aws):
    part = 5 * 1024 * 1024
    upload = aws.landing(part_size=part).open_upload("staging/src/run/00004.ndjson.gz")
    upload.write(os.urandom(part + 1))
    upload.abort()
    assert aws.list_keys() == []
    assert aws.s3.list_multipart_uploads(Bucket="landing-bucket").get("Uploads", []) == []


def test_json_round_trip_and_head_metadata(aws):
    landing = aws.landing()
    landing.put_json("runs/x/files.json", [{"index": 1}])
    assert landing.get_json("runs/x/files.json") == [{"index": 1}]
    assert landing.head_metadata("runs/x/files.json") == {}
    assert landing.head_metadata("runs/x/absent.json") is None


@pytest.mark.parametrize("size", [0, 1])
def test_tiny_and_empty_bodies_land(aws, size):
    upload = aws.landing().open_upload("staging/s/r/1.gz")
    upload.write(b"x" * size)
    upload.land("fhir/s/T/1.gz", {})
    assert aws.s3.get_object(Bucket="landing-bucket", Key="fhir/s/T/1.gz")["ContentLength"] == size


def test_an_archived_object_is_a_named_failure_that_says_how_to_restore_it(aws):
    # a claims rebuild reads every landed file; the lifecycle moves landed data to Glacier after a year
    key = "fhir/s/ExplanationOfBenefit/run_date=2025-01-01/r/ExplanationOfBenefit-0001.ndjson.gz"
    aws.s3.put_object(Bucket="landing-bucket", Key=key, Body=b"x", StorageClass="GLACIER")
    with pytest.raises(ConfigurationError) as raised:
        b"".join(aws.landing().read_stream(key))
    message = str(raised.value)
    assert f"s3://landing-bucket/{key} is archived" in message
    assert f"aws s3api restore-object --bucket landing-bucket --key {key}" in message
