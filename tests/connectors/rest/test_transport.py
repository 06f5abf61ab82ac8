"""The REST transport against the real test API: every auth kind (OAuth2 refresh included),
errors that name no secret, rate limits, a flaky API, a dead one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from agent_orchestrated_etl.connectors.rest._client import RestClient
from agent_orchestrated_etl.connectors.rest._limits import RateLimiter, read_headers
from agent_orchestrated_etl.connectors.rest._paging import iter_pages
from agent_orchestrated_etl.errors import TransientError, UserError, classify
from agent_orchestrated_etl.resilience import RetryPolicy
from agent_orchestrated_etl.spec.rest import PaginatorSpec
from agent_orchestrated_etl.spec.source import RestSourceSpec
from tests.servers import RestApi, free_port

PAGED = PaginatorSpec(type="page_number", total_pages_path="total_pages")
FAST = RetryPolicy(5, 0.05, 1.0)


@pytest.fixture
def api(rest_api: RestApi) -> Iterator[RestApi]:
    rest_api.control(reset=True)
    yield rest_api
    rest_api.control(reset=True)


def _client(
    url: str, *, endpoint: str | None = None, retry: RetryPolicy | None = FAST, **options: Any
) -> RestClient:
    return RestClient(RestSourceSpec(uri=url, **options), url, endpoint=endpoint, retry=retry)


def _ids(client: RestClient, path: str, paginator: PaginatorSpec = PAGED, **kw: Any) -> list[int]:
    pages = iter_pages(
        client,
        path,
        params=kw.pop("params", {}),
        headers={},
        paginator=paginator,
        selector=None,
        max_concurrency=kw.pop("concurrency", 4),
    )
    return [record["id"] for page in pages for record in page.records]


AUTH = {
    "bearer": {"type": "bearer", "token": "${env:T_TOKEN}"},
    "basic": {"type": "basic", "username": "alice", "password": "${env:T_PASSWORD}"},
    "key-header": {"type": "api_key", "name": "X-API-Key", "value": "${env:T_KEY}"},
    "key-query": {"type": "api_key", "name": "api_key", "value": "${env:T_KEY}",
                  "location": "query"},
    "oauth": {"type": "oauth2_client_credentials", "token_url": "/oauth/token",
              "client_id": "cid", "client_secret": "${env:T_CLIENT_SECRET}"},
}  # fmt: skip
GOOD = {"T_TOKEN": "test-token", "T_PASSWORD": "s3cret-pw", "T_KEY": "k-123",
        "T_CLIENT_SECRET": "csecret"}  # fmt: skip
# Other variables for the wrong values: the resolver keeps a value once resolved.
BAD = {"T_TOKEN_X": "wrong-token-1", "T_PASSWORD_X": "wrong-pw-22", "T_KEY_X": "wrong-key-333",
       "T_CLIENT_SECRET_X": "wrong-secret-4444"}  # fmt: skip


@pytest.mark.parametrize("kind", list(AUTH))
def test_every_auth_kind_loads_and_a_wrong_secret_is_one_line_naming_no_secret(
    api: RestApi, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    with _client(api.url, auth=AUTH[kind]) as client:
        assert sorted(_ids(client, f"auth/{kind}/users")) == list(range(1, 251))
    for name, value in BAD.items():
        monkeypatch.setenv(name, value)
    bad = {k: v.replace("}", "_X}") for k, v in AUTH[kind].items()}
    with _client(api.url, auth=bad) as client, pytest.raises(UserError) as caught:
        _ids(client, f"auth/{kind}/users")
    message = str(caught.value)
    assert "\n" not in message and "401" in message
    assert "auth" in message and "check" in message
    assert not any(value in message for value in BAD.values())


def test_no_credentials_is_a_user_error_saying_to_check_the_auth(api: RestApi) -> None:
    with _client(api.url) as client, pytest.raises(UserError) as caught:
        client.get("auth/bearer/users")
    assert str(caught.value).startswith(f"GET {api.url}/auth/bearer/users: HTTP 401")
    assert "check the source's auth settings" in str(caught.value)


def test_oauth_token_is_fetched_again_before_it_expires_and_on_401(api: RestApi) -> None:
    oauth = {**AUTH["oauth"], "client_secret": "csecret"}
    with _client(api.url, auth=oauth) as client:
        client.get("auth/oauth/users")
        time.sleep(2.05)  # the token lives 2 s: it is refreshed 10% before
        client.get("auth/oauth/users")
        assert api.stats()["tokens_issued"] == 2
        # A token the client still believes in, but the API has let expire: one 401, one
        # new token, the request sent again.
        auth = client._auth
        auth._refresh_at = float("inf")  # type: ignore[union-attr]
        time.sleep(2.05)
        assert client.get("auth/oauth/users").status == 200
        assert api.stats()["tokens_issued"] == 3


def test_the_api_key_and_password_never_show_in_urls_or_errors(api: RestApi) -> None:
    auth = {"type": "api_key", "name": "sig", "value": "qk-98765", "location": "query"}
    with _client(f"{api.url}/?v=2", auth=auth) as client:
        shown = client.masked(f"{api.url}/x?sig=qk-98765&page=2")
        assert "qk-98765" not in shown and "sig=***" in shown and "page=2" in shown
        with pytest.raises(UserError) as caught:
            client.get("no/such/path", params={"page": 1})
    assert "HTTP 404" in str(caught.value) and "qk-98765" not in str(caught.value)
    with _client(f"http://bob:pw-31337@127.0.0.1:{free_port()}", retry=RetryPolicy(1)) as client:
        assert client.masked(client.url("a")).startswith("http://bob:***@127.0.0.1:")
        with pytest.raises(TransientError) as dead:
            client.get("a")
    assert "pw-31337" not in str(dead.value) and "bob:***@" in str(dead.value)


def test_rate_limit_headers_throttle_before_the_api_refuses(api: RestApi) -> None:
    with _client(api.url) as client:
        ids = _ids(
            client,
            "limited/users",
            PaginatorSpec(
                type="page_number",
                page_size_param="per_page",
                page_size=5,
                total_pages_path="total_pages",
            ),
            concurrency=8,
        )
        assert sorted(ids) == list(range(1, 251))  # 50 requests at 20 a second
        assert api.stats()["rate_limited"] == 0
        assert client.limiter.waited_s > 0.5


def test_a_429_with_retry_after_is_waited_out(api: RestApi) -> None:
    api.control(flaky=0.5, seed=3, slow_s=0.0)
    paginator = PaginatorSpec(
        type="page_number", page_size=10, page_size_param="per_page", total_path="total"
    )
    with _client(api.url) as client:
        started = time.monotonic()
        ids = _ids(client, "page/users", paginator, concurrency=1)
        elapsed = time.monotonic() - started
    assert sorted(ids) == list(range(1, 251))
    refused = api.stats()["injected"].get("429", 0)  # type: ignore[attr-defined]
    assert refused > 0 and elapsed >= 0.1 * refused  # each 429 said Retry-After: 0.1


def test_a_flaky_api_still_gives_every_page_exactly_once(api: RestApi) -> None:
    api.control(flaky=0.3, seed=7, slow_s=1.0)
    endpoint = f"flaky-test-{time.monotonic_ns()}"  # its own breaker: it must stay closed
    with _client(api.url, endpoint=endpoint, timeout_s=0.5, retry=RetryPolicy(8, 0.05, 1.0)) as c:
        for path, paginator in [
            ("page/users", PaginatorSpec(type="page_number", page_size=10,
                                         page_size_param="per_page", total_path="total")),
            ("cursor/users", PaginatorSpec(type="cursor")),
        ]:  # fmt: skip
            # At most 4 requests in flight: 5 that time out together (10% of requests are
            # slow) would open the request breaker, which counts requests with no answer.
            ids = _ids(c, path, paginator, concurrency=4)
            assert sorted(ids) == list(range(1, 251)), path
    injected = api.stats()["injected"]
    assert set(injected) == {"500", "429", "slow"}, injected  # type: ignore[arg-type]


def test_a_dead_api_opens_the_circuit_and_fails_fast(api: RestApi) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _client(url, endpoint=f"127.0.0.1:{port}", retry=None) as client:
        started = time.monotonic()
        with pytest.raises(TransientError) as first:
            client.get("users")
        assert time.monotonic() - started < 4.0  # 5 attempts, backoff 0.2 s doubling
        assert "Connection refused" in str(first.value) and "after 5 attempts" in str(first.value)
        started = time.monotonic()
        with pytest.raises(
            TransientError, match=r"stopped answering \(last: .*Connection refused; circuit open"
        ) as again:
            client.get("users")
        assert time.monotonic() - started < 0.1
        assert again.value.retry_after is None and "\n" not in str(again.value)


def test_a_request_rate_cap_spaces_requests(api: RestApi) -> None:
    with _client(api.url, requests_per_second=20) as client:
        started = time.monotonic()
        for _ in range(6):
            client.get("items")
        assert time.monotonic() - started >= 0.25 - 0.01


def test_rate_limit_headers_are_read_in_every_form() -> None:
    assert read_headers({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "1.5"}) == (3, 1.5)
    assert read_headers({"ratelimit-remaining": "0", "ratelimit-reset": "7"}) == (0, 7)
    assert read_headers({"ratelimit": '"default";r=2;t=9'}) == (2, 9)
    remaining, reset = read_headers(
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 30)}
    )
    assert remaining == 0 and reset is not None and 28 <= reset <= 31
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(None, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()
    limiter.observe({"x-ratelimit-remaining": "1", "x-ratelimit-reset": "4"})
    limiter.acquire()  # the last one in the window
    limiter.acquire()  # waits for the window to reset
    assert slept == [4.0]
    limiter.block(3600)  # a Retry-After of an hour holds a request a minute at most
    limiter.acquire()
    assert slept == [4.0, 60.0]


def test_classify_urllib3_through_classify() -> None:
    import urllib3

    try:
        urllib3.PoolManager(retries=False).request("GET", f"http://127.0.0.1:{free_port()}/x")
    except urllib3.exceptions.HTTPError as exc:
        error = classify(exc, "GET x")
    assert isinstance(error, TransientError) and "check that the API is running" in str(error)
    assert "Connection refused" in str(error) and "timed out" not in str(error)


def test_a_slow_answer_is_a_timeout_retried_then_named(api: RestApi) -> None:
    api.control(latency_ms=400)
    with _client(api.url, timeout_s=0.1, retry=RetryPolicy(2, 0.01, 0.05)) as client:
        with pytest.raises(TransientError) as caught:
            client.get("page/users")
        assert client.requests == 2
    assert "timed out (ReadTimeoutError)" in str(caught.value)
    assert "after 2 attempts" in str(caught.value)


def test_headers_params_and_answers_through_the_pool(
    api: RestApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SIG", "sig-value-123")
    with _client(f"{api.url}/page", headers={"X-Trace": "t2"}) as client:
        response = client.get("users", params={"page": 2, "per_page": 7, "sig": "${env:T_SIG}"})
        # A reference in a param may be a secret: from then on the client masks its URLs.
        assert client.shown(response.url) == f"{api.url}/page/users?page=2&per_page=7&sig=***"
        following = client.get(response.url.replace("page=2", "page=3"))
    body = response.content.decode()
    assert response.status == 200 and '"page":2' in body.replace(" ", "")
    assert response.headers["Content-Type"] == response.headers["content-type"]
    assert [r["id"] for r in orjson.loads(following.content)["data"]] == list(range(15, 22))
    with _client(api.url) as client:
        plain = client.get("page/users", params={"page": 1, "flag": True}).url
        assert client.shown(plain) == plain and plain.endswith("?page=1&flag=true")


def test_tls_is_verified_and_ssl_cert_file_trusts_a_private_ca(
    rest_api_tls: RestApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with _client(rest_api_tls.url) as client, pytest.raises(UserError) as caught:
        client.get("page/users")
    assert "certificate" in str(caught.value) and "SSL_CERT_FILE" in str(caught.value)
    assert "\n" not in str(caught.value) and client.requests == 1  # not retried
    assert rest_api_tls.ca is not None
    monkeypatch.setenv("SSL_CERT_FILE", rest_api_tls.ca)
    with _client(rest_api_tls.url) as client:
        assert sorted(_ids(client, "page/users")) == list(range(1, 251))


def test_a_redirect_to_another_host_is_followed(api: RestApi) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Moved(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(308)
            self.send_header("Location", api.url + "/page" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Moved)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        old = f"http://127.0.0.1:{server.server_address[1]}"
        with _client(old) as client:
            response = client.get("users", params={"page": 2, "per_page": 3})
    finally:
        server.shutdown()
        server.server_close()
    assert response.status == 200 and response.url == f"{api.url}/page/users?page=2&per_page=3"
    assert [r["id"] for r in orjson.loads(response.content)["data"]] == [4, 5, 6]
