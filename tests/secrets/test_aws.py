"""Against a moto server standing in for AWS Secrets Manager."""

from __future__ import annotations

import json

import boto3
import pytest

from agent_orchestrated_etl.secrets import Resolver, SecretError


@pytest.fixture
def sm(aws_env: str):  # type: ignore[no-untyped-def]
    return boto3.client("secretsmanager")


def test_json_plain_and_binary_secrets(sm) -> None:  # type: ignore[no-untyped-def]
    sm.create_secret(
        Name="prod/db", SecretString=json.dumps({"user": "etl", "password": "aws-pw-1111"})
    )
    sm.create_secret(Name="prod/token", SecretString="aws-plain-2222")
    sm.create_secret(Name="prod/bin", SecretBinary=json.dumps({"k": "aws-bin-3333"}).encode())
    r = Resolver()
    assert r.resolve("${secret:aws:prod/db#password}") == "aws-pw-1111"
    assert r.resolve("${secret:aws:prod/token}") == "aws-plain-2222"
    assert r.resolve("${secret:aws:prod/bin#k}") == "aws-bin-3333"


def test_version_stage(sm) -> None:  # type: ignore[no-untyped-def]
    sm.create_secret(Name="prod/rotating", SecretString=json.dumps({"password": "aws-old-4444"}))
    sm.put_secret_value(
        SecretId="prod/rotating", SecretString=json.dumps({"password": "aws-new-5555"})
    )
    r = Resolver()
    assert r.resolve("${secret:aws:prod/rotating#password}") == "aws-new-5555"
    assert (
        r.resolve("${secret:aws:prod/rotating?version_stage=AWSPREVIOUS#password}")
        == "aws-old-4444"
    )


def test_not_found_and_plain_text_with_a_key(sm) -> None:  # type: ignore[no-untyped-def]
    sm.create_secret(Name="prod/plain", SecretString="aws-plain-6666")
    r = Resolver()
    with pytest.raises(SecretError, match=r"\(aws\): secret 'prod/missing' not found"):
        r.resolve("${secret:aws:prod/missing#x}")
    with pytest.raises(SecretError) as info:
        r.resolve("${secret:aws:prod/plain#x}")
    assert "plain text, not JSON" in str(info.value)
    assert "aws-plain-6666" not in str(info.value)
