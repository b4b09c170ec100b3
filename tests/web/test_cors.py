"""CorsPolicy: which origins are allowed, the headers it adds, and the WebSocket origin check."""

from __future__ import annotations

import pytest
from quart import Response

from canvas.web.cors import ALLOW_METHODS, MAX_AGE, CorsPolicy

CHART = "http://chart.test"


def test_only_listed_origins_are_allowed():
    policy = CorsPolicy((CHART,))
    assert policy.allows(CHART)
    assert not policy.allows("http://other.test")
    assert not policy.allows("http://chart.test:8080")  # an origin includes its port
    assert not policy.allows(None) and not policy.allows("")
    star = CorsPolicy(("*",))
    assert star.allows("http://anything.test")
    assert not star.allows(None)  # no Origin header: not a cross-origin browser request
    assert not CorsPolicy(()).allows(CHART)


def test_decorate_adds_headers_for_allowed_origins_only():
    policy = CorsPolicy((CHART,))
    allowed = Response("ok")
    policy.decorate(allowed, CHART)
    assert allowed.headers["Access-Control-Allow-Origin"] == CHART
    assert "Origin" in allowed.headers["Vary"]
    foreign = Response("ok")
    policy.decorate(foreign, "http://other.test")
    assert "Access-Control-Allow-Origin" not in foreign.headers
    # With "*", the response names the caller's origin (never "*"), so credentials could work.
    starred = Response("ok")
    CorsPolicy(("*",)).decorate(starred, CHART)
    assert starred.headers["Access-Control-Allow-Origin"] == CHART


def test_preflight():
    policy = CorsPolicy((CHART,))
    ok = policy.preflight(CHART, "content-type")
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == CHART
    assert ok.headers["Access-Control-Allow-Methods"] == ALLOW_METHODS
    assert ok.headers["Access-Control-Allow-Headers"] == "content-type"
    assert ok.headers["Access-Control-Max-Age"] == MAX_AGE
    plain = policy.preflight(CHART, None)
    assert "Access-Control-Allow-Headers" not in plain.headers
    refused = policy.preflight("http://other.test", "content-type")
    assert refused.status_code == 204
    assert not [k for k in refused.headers.keys() if k.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        (None, "canvas.test:8000", "ws", True),  # not a browser
        ("", "canvas.test:8000", "ws", True),
        (CHART, "canvas.test:8000", "ws", True),  # listed
        ("http://canvas.test:8000", "canvas.test:8000", "ws", True),  # the server's own page
        ("http://CANVAS.test:8000", "canvas.test:8000", "ws", True),
        ("http://canvas.test", "canvas.test", "ws", True),  # default ports on both sides
        ("http://canvas.test:80", "canvas.test", "ws", True),
        ("https://canvas.test", "canvas.test", "wss", True),
        ("https://canvas.test", "canvas.test:443", "wss", True),
        ("http://canvas.test", "canvas.test", "wss", False),  # 80 is not 443
        ("http://canvas.test:8001", "canvas.test:8000", "ws", False),
        ("http://evil.test:8000", "canvas.test:8000", "ws", False),
        ("http://canvas.test:8000", None, "ws", False),  # no Host to compare with
        ("null", "canvas.test:8000", "ws", False),  # an opaque origin (sandboxed page)
    ],
)
def test_websocket_origin_check(origin, host, scheme, allowed):
    assert CorsPolicy((CHART,)).websocket_allowed(origin, host, scheme) is allowed
