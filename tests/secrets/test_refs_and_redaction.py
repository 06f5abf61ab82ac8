from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent_orchestrated_etl.secrets import (
    RedactingFilter,
    Resolver,
    SecretError,
    SecretReferenceError,
    parse,
    redact,
    redact_obj,
)


def test_parse_every_form() -> None:
    assert parse("${env:HOME}").path == "HOME"
    env = parse("${env:PORT:-5432}")
    assert (env.provider, env.path, env.default) == ("env", "PORT", "5432")
    f = parse("${file:~/.creds.json#db.password}")
    assert (f.provider, f.path, f.key) == ("file", "~/.creds.json", "db.password")
    v = parse("${secret:vault:kv/team/app#password}")
    assert (v.provider, v.path, v.key) == ("vault", "kv/team/app", "password")
    a = parse("${secret:aws:prod/db?version_stage=AWSPREVIOUS#user}")
    assert (a.provider, a.path, a.key) == ("aws", "prod/db?version_stage=AWSPREVIOUS", "user")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${secret:gcp:x#y}", "unknown secret provider 'gcp'; known: vault, aws"),
        ("${vault:x}", "unknown reference kind 'vault'"),
        ("${env:}", "name the variable"),
    ],
)
def test_bad_references_say_how_to_fix(text: str, message: str) -> None:
    with pytest.raises(SecretReferenceError, match=message):
        parse(text)


def test_env_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOETL_T_HOST", "db.internal")
    monkeypatch.delenv("AOETL_T_PORT", raising=False)
    r = Resolver()
    assert (
        r.resolve("pg://${env:AOETL_T_HOST}:${env:AOETL_T_PORT:-5432}/x")
        == "pg://db.internal:5432/x"
    )
    with pytest.raises(
        SecretError, match=r"\$\{env:AOETL_T_MISSING\} \(env\): environment variable"
    ):
        r.resolve("${env:AOETL_T_MISSING}")


def test_file_provider_reads_dotenv_json_yaml_and_plain(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# creds\nexport DB_PASS='s3cr3t-dotenv'\nOTHER=1\n")
    (tmp_path / "c.json").write_text('{"password": "s3cr3t-json"}')
    (tmp_path / "c.yaml").write_text("password: s3cr3t-yaml\nuser: app\n")
    (tmp_path / "token.txt").write_text("s3cr3t-plain\n")
    r = Resolver()
    assert r.resolve(f"${{file:{tmp_path}/.env#DB_PASS}}") == "s3cr3t-dotenv"
    assert r.resolve(f"${{file:{tmp_path}/c.json#password}}") == "s3cr3t-json"
    assert r.resolve(f"${{file:{tmp_path}/c.yaml#password}}") == "s3cr3t-yaml"
    assert r.resolve(f"${{file:{tmp_path}/token.txt}}") == "s3cr3t-plain"
    with pytest.raises(SecretError) as info:
        r.resolve(f"${{file:{tmp_path}/c.yaml#pass}}")
    assert "no key 'pass' (keys present: password, user)" in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_resolved_values_are_masked_everywhere_after_resolution(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("tok-9f8e7d6c5b")
    Resolver().resolve(f"${{file:{tmp_path}/t.txt}}")
    assert redact("login with tok-9f8e7d6c5b failed") == "login with *** failed"
    assert redact("postgresql://app:hunter2@db/x") == "postgresql://app:***@db/x"
    assert redact_obj({"a": ["x tok-9f8e7d6c5b"], "n": 1}) == {"a": ["x ***"], "n": 1}


def test_logging_filter_masks_messages_args_and_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("pw-0a1b2c3d4e")
    Resolver().resolve(f"${{file:{tmp_path}/t.txt}}")
    record = logging.LogRecord(
        "aoetl", logging.INFO, __file__, 1, "connecting with %s", ("pw-0a1b2c3d4e",), None
    )
    try:
        raise RuntimeError("driver said pw-0a1b2c3d4e is wrong")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert record.getMessage() == "connecting with ***"
    assert "pw-0a1b2c3d4e" not in (record.exc_text or "")


def test_cache_expires_after_ttl(tmp_path: Path) -> None:
    now = [0.0]
    secret = tmp_path / "s.txt"
    secret.write_text("first-value")
    r = Resolver(ttl_s=60, clock=lambda: now[0])
    ref = f"${{file:{secret}}}"
    assert r.resolve(ref) == "first-value"
    secret.write_text("second-value")
    now[0] = 59
    assert r.resolve(ref) == "first-value"  # cached
    now[0] = 61
    assert r.resolve(ref) == "second-value"  # rotated value picked up


def test_fresh_retry_re_resolves_once_on_auth_failure(tmp_path: Path) -> None:
    secret = tmp_path / "s.txt"
    secret.write_text("old-password")
    r = Resolver(ttl_s=3600)
    ref = f"${{file:{secret}}}"
    r.resolve(ref)
    secret.write_text("new-password")
    seen: list[str] = []

    def connect() -> str:
        value = r.resolve(ref)
        seen.append(value)
        if value != "new-password":
            raise PermissionError("auth failed")
        return "connected"

    assert (
        r.with_fresh_retry([ref], connect, is_auth_error=lambda e: isinstance(e, PermissionError))
        == "connected"
    )
    assert seen == ["old-password", "new-password"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A password is percent-encoded whole, so the URL still parses.
        ("postgresql://u:${env:P}@h:5/db", "postgresql://u:p%40ss%2Fw%23rd%25%3A1@h:5/db"),
        # A reference whose own text holds '/' and '#' is found all the same.
        ("postgresql://u:${secret:vault:kv/db#pw}@h/db", "postgresql://u:s%2Fe%40c@h/db"),
        # In the user position ':' stays, so one variable may hold user:password.
        ("postgresql://${env:CREDS}@h/db", "postgresql://me:pw@h/db"),
        # Outside the userinfo nothing is encoded: host, path and query take the value as is.
        (
            "postgresql://u@${env:HOST}:5/db?opt=${env:P}",
            "postgresql://u@db.local:5/db?opt=p@ss/w#rd%:1",
        ),
        ("/data/${env:P}.csv", "/data/p@ss/w#rd%:1.csv"),
    ],
)
def test_values_in_a_url_userinfo_are_percent_encoded(text: str, expected: str) -> None:
    from agent_orchestrated_etl.secrets.refs import substitute

    lookup = {
        "${env:P}": "p@ss/w#rd%:1",
        "${secret:vault:kv/db#pw}": "s/e@c",
        "${env:CREDS}": "me:pw",
        "${env:HOST}": "db.local",
    }
    assert substitute(text, lookup) == expected
