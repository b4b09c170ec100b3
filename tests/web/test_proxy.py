"""TRUSTED_PROXIES: the client address and scheme from a trusted reverse proxy's headers."""

from __future__ import annotations

import ipaddress
import logging

import pytest
from helpers import http_client, running_server

from canvas.logs import ACCESS_LOGGER
from canvas.web.proxy import TrustedProxies, behind_proxies

NETS = [ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8")]


async def seen_scope(peer: str, headers: dict[str, str], kind: str = "http") -> dict:
    seen: dict = {}

    async def app(scope, receive, send):
        seen.update(scope)

    scope = {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "client": (peer, 5000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await TrustedProxies(app, NETS)(scope, None, None)
    return seen


@pytest.mark.parametrize(
    "peer,forwarded,client",
    [
        ("127.0.0.1", "198.51.100.9", "198.51.100.9"),
        ("127.0.0.1", "198.51.100.9, 10.1.2.3", "198.51.100.9"),  # two trusted hops
        ("127.0.0.1", "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # client-sent entry ignored
        ("127.0.0.1", "10.0.0.1, 127.0.0.1", "10.0.0.1"),  # only proxies: the left-most
        ("127.0.0.1", "garbage, 198.51.100.9", "198.51.100.9"),
        ("127.0.0.1", "198.51.100.9, garbage", "127.0.0.1"),  # a garbled hop: the proxy
        ("192.0.2.1", "198.51.100.9", "192.0.2.1"),  # not a trusted proxy: header ignored
    ],
)
async def test_client_address(peer, forwarded, client):
    scope = await seen_scope(peer, {"X-Forwarded-For": forwarded})
    assert scope["client"][0] == client


async def test_scheme_from_a_trusted_proxy_only():
    assert (await seen_scope("10.9.9.9", {"X-Forwarded-Proto": "https"}))["scheme"] == "https"
    ws = await seen_scope("10.9.9.9", {"X-Forwarded-Proto": "https"}, kind="websocket")
    assert ws["scheme"] == "wss"
    assert (await seen_scope("10.9.9.9", {"X-Forwarded-Proto": "gopher"}))["scheme"] == "http"
    assert (await seen_scope("192.0.2.1", {"X-Forwarded-Proto": "https"}))["scheme"] == "http"


def test_no_trusted_proxy_leaves_the_app_unwrapped():
    async def app(scope, receive, send):
        pass

    assert behind_proxies(app, ()) is app


@pytest.mark.parametrize("trusted", [True, False])
async def test_behind_a_proxy_end_to_end(tmp_path, caplog, trusted):
    """The access log names the forwarded client, and a page served over TLS by the proxy
    may open a WebSocket to its own origin, only when the proxy is trusted."""
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    settings = {"ACCESS_LOG": True, "TRUSTED_PROXIES": "127.0.0.1" if trusted else ""}
    async with running_server(tmp_path, **settings) as server, http_client(server) as client:
        r = await client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 200
        # A WebSocket upgrade as a TLS-terminating proxy passes on a page's own-origin request.
        upgrade = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Host": "canvas.example",
            "Origin": "https://canvas.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.7",
        }
        status = (await client.get("/ws/market", headers=upgrade)).status_code
    assert status == (101 if trusted else 403)
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    first = next(line for line in lines if "/healthz" in line)
    assert first.startswith("203.0.113.7:" if trusted else "127.0.0.1:"), first
