"""Against a real OpenBao dev server (Vault's API)."""

from __future__ import annotations

from collections.abc import Iterator

import hvac
import pytest

from agent_orchestrated_etl.secrets import Resolver, SecretError, parse
from tests.servers import Vault


@pytest.fixture
def root(openbao: Vault) -> hvac.Client:
    return hvac.Client(url=openbao.addr, token=openbao.root_token)


@pytest.fixture
def token_env(openbao: Vault, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN", openbao.root_token)
    monkeypatch.delenv("VAULT_ROLE_ID", raising=False)
    monkeypatch.delenv("VAULT_SECRET_ID", raising=False)
    yield


def test_token_login_reads_kv_v2_and_kv_v1(root: hvac.Client, token_env: None) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path="app", mount_point="secret", secret={"password": "v2-pass-1234", "user": "app"}
    )
    root.secrets.kv.v1.create_or_update_secret(
        path="legacy", mount_point="kv1", secret={"password": "v1-pass-5678"}
    )
    r = Resolver()
    assert r.resolve("${secret:vault:secret/app#password}") == "v2-pass-1234"
    assert r.resolve("${secret:vault:kv1/legacy#password}") == "v1-pass-5678"
    assert r.vault._mounts["secret/"][1] == 2 and r.vault._mounts["kv1/"][1] == 1


def test_errors_name_the_reference_and_the_cause_never_the_value(
    root: hvac.Client, token_env: None
) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path="app2", mount_point="secret", secret={"password": "v2-pass-9999"}
    )
    r = Resolver()
    with pytest.raises(SecretError, match=r"secret/nope#x\} \(vault\): not found"):
        r.resolve("${secret:vault:secret/nope#x}")
    with pytest.raises(SecretError) as info:
        r.resolve("${secret:vault:secret/app2#pass}")
    assert "no key 'pass' (keys present: password)" in str(info.value)
    assert "v2-pass-9999" not in str(info.value)


def test_approle_with_a_read_only_policy(
    openbao: Vault, root: hvac.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path="ro", mount_point="secret", secret={"token": "ro-token-4321"}
    )
    root.sys.create_or_update_policy(
        "etl-read",
        'path "secret/data/ro" { capabilities = ["read"] }\n'
        'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }\n',
    )
    if "approle/" not in root.sys.list_auth_methods():
        root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("etl", token_policies=["etl-read"], token_ttl="10m")
    role_id = root.auth.approle.read_role_id("etl")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("etl")["data"]["secret_id"]
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    r = Resolver()
    assert r.resolve("${secret:vault:secret/ro#token}") == "ro-token-4321"
    expires = r.vault.token_expires_in
    assert expires is not None and 0 < expires <= 600
    client = r.vault.client(parse("${secret:vault:secret/ro#token}"))
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(
            path="ro", mount_point="secret", secret={"token": "x"}
        )
    with pytest.raises(SecretError, match="permission denied"):
        r.resolve("${secret:vault:secret/app#password}")


def test_token_is_renewed_before_it_expires(
    openbao: Vault, root: hvac.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path="renew", mount_point="secret", secret={"v": "renew-value-1"}
    )
    token = root.auth.token.create(ttl="5m", renewable=True, policies=["root"])["auth"][
        "client_token"
    ]
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN", token)
    now = [1000.0]
    r = Resolver(ttl_s=1, clock=lambda: now[0])
    assert r.resolve("${secret:vault:secret/renew#v}") == "renew-value-1"
    first = r.vault.token_expires_in
    assert first is not None and 250 < first <= 300
    now[0] += first - 30  # within the renewal margin
    assert r.resolve("${secret:vault:secret/renew#v}") == "renew-value-1"
    renewed = r.vault.token_expires_in
    assert renewed is not None and renewed > 250  # renew_self gave it a fresh TTL


def test_rotated_secret_is_picked_up_after_the_ttl(root: hvac.Client, token_env: None) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path="rot", mount_point="secret", secret={"key": "rot-value-one"}
    )
    now = [0.0]
    r = Resolver(ttl_s=30, clock=lambda: now[0])
    assert r.resolve("${secret:vault:secret/rot#key}") == "rot-value-one"
    root.secrets.kv.v2.create_or_update_secret(
        path="rot", mount_point="secret", secret={"key": "rot-value-two"}
    )
    assert r.resolve("${secret:vault:secret/rot#key}") == "rot-value-one"
    now[0] = 31
    assert r.resolve("${secret:vault:secret/rot#key}") == "rot-value-two"
