"""local-run's moto speed-ups change how fast moto answers, never what (local/runner/moto_speed.py)."""

from __future__ import annotations

from moto import mock_aws
from moto.s3.models import S3Backend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import json_path

from local.runner.moto_speed import moto_speedups


def test_a_json_path_is_parsed_once_and_finds_the_same_values() -> None:
    data = {"run": {"files": [{"index": 1}, {"index": 2}]}, "poll": {"state": "complete"}}
    before = [json_path.extract_json(path, data) for path in ("$.poll.state", "$.run.files[*].index")]
    with moto_speedups():
        after = [json_path.extract_json(path, data) for path in ("$.poll.state", "$.run.files[*].index")]
        assert json_path.parse("$.poll.state") is json_path.parse("$.poll.state")
    assert after == before == ["complete", [1, 2]]


def test_one_lambda_client_per_region_and_service_while_active() -> None:
    with mock_aws(), moto_speedups():
        first = lambda_eval_utils.boto_client_for("us-east-1", "lambda")
        # as moto calls it: with the state's credentials, which its clients ignore
        assert (
            lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda", state_credentials=object()) is first
        )
        assert lambda_eval_utils.boto_client_for("eu-west-2", "lambda") is not first
    with mock_aws(), moto_speedups():  # a new emulated AWS: new clients
        assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is not first


def test_s3_url_patterns_are_the_modules_without_a_reload() -> None:
    with mock_aws():
        backend = S3Backend("us-east-1", "123456789012")
        patterns = backend._url_module.url_paths
        with moto_speedups():
            assert backend._url_module.url_paths == patterns
