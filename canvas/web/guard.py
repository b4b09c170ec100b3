"""The checks every request passes before its route runs (CONTRACT conventions, rev 4).

Order: unknown route 404 / wrong method 405 (Quart's routing) → disabled by flag 404 →
foreign origin 403 → access token 401 → content type 415 → size 413 (when the route reads
the body) → validation 422/400 → the route's own answers.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

import attrs
from quart import Response, request, websocket

from canvas.settings import Settings
from canvas.web.cors import CorsPolicy
from canvas.web.json_response import json_response

Flag = Callable[[Settings], bool]

# Routes switched on by settings (rule → predicate); every other route is always on.
# Prefix rules end with "/".
FLAGGED_ROUTES: tuple[tuple[str, Flag], ...] = (
    ("/api/market/debug/metrics", lambda s: s.enable_debug_api and s.enable_runtime_metrics),
    ("/api/market/debug/", lambda s: s.enable_debug_api),
    ("/api/market/ingest/candle_forming", lambda s: s.enable_debug_api),
    ("/api/factor/rebuild", lambda s: s.enable_factor_rebuild),
    ("/api/market/health", lambda s: s.enable_kline_health_v2 or s.enable_debug_api),
    ("/metrics", lambda s: s.enable_runtime_metrics),
)

# The control routes: they need the token whenever one is set ("method path"; a path ending
# in "/" covers everything under it, "*" any method).
CONTROL_ROUTES = (
    "POST /api/market/ingest/",
    "POST /api/factor/rebuild",
    "POST /api/replay/ensure_coverage",
    "* /api/market/debug/",
    "GET /metrics",
)

# Never behind the token, even with API_TOKEN_SCOPE=all: the liveness probe, the chart
# page's own files (the page asks for the token itself) and the API's description (it says
# what the routes are, not what they hold). CORS preflights are exempt too.
PUBLIC_ROUTES = (
    "GET /healthz",
    "GET /",
    "GET /static/",
    "GET /openapi.json",
    "GET /docs",
)

# Streams a browser opens without custom headers may carry the token in the query string.
QUERY_TOKEN_ROUTES = ("/ws/market", "/api/market/top_markets/stream")


def _matches(rules: tuple[str, ...], method: str, path: str) -> bool:
    for rule in rules:
        rule_method, _, rule_path = rule.partition(" ")
        if rule_method not in ("*", method) and not (rule_method == "GET" and method == "HEAD"):
            continue
        prefix = rule_path.endswith("/") and len(rule_path) > 1
        if path == rule_path or (prefix and path.startswith(rule_path)):
            return True
    return False


def _flag_for(path: str) -> Flag | None:
    for rule, flag in FLAGGED_ROUTES:
        if path == rule or (rule.endswith("/") and path.startswith(rule)):
            return flag
    return None


def _error(status: int, detail: str) -> Response:
    return json_response({"detail": detail}, status)


def unauthorized() -> Response:
    response = _error(401, "unauthorized")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


@attrs.frozen
class Guard:
    """The pre-route checks of one app, built from its settings."""

    settings: Settings
    cors: CorsPolicy

    @property
    def token(self) -> str:
        return self.settings.api_token

    def disabled(self, path: str) -> bool:
        """True for a route its feature flag switches off (answered 404)."""
        flag = _flag_for(path)
        return flag is not None and not flag(self.settings)

    def needs_token(self, method: str, path: str) -> bool:
        if not self.token:
            return False
        if _matches(CONTROL_ROUTES, method, path):
            return True
        return self.settings.api_token_scope == "all" and not _matches(PUBLIC_ROUTES, method, path)

    def token_ok(self, authorization: str | None, query_token: str | None) -> bool:
        """A Bearer token (or, where allowed, `access_token`) equal to API_TOKEN."""
        given = None
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                given = value.strip()
        if given is None:
            given = query_token
        if given is None:
            return False
        # Constant time whatever the input: compare UTF-8 bytes (str compare rejects non-ASCII).
        return hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), self.token.encode("utf-8")
        )

    def _query_token(self, path: str, args: dict[str, str]) -> str | None:
        return args.get("access_token") if path in QUERY_TOKEN_ROUTES else None

    async def check_request(self) -> Response | None:
        """The before-request hook: a refusal, or None to let the route run."""
        if request.routing_exception is not None or request.method == "OPTIONS":
            return None  # 404/405 come from routing; preflights are answered elsewhere
        path, method = request.path, request.method
        if self.disabled(path):
            return _error(404, "not_found")
        # A POST's origin is judged like a WebSocket upgrade's: none, allowed, or our own.
        if method == "POST" and not self.cors.websocket_allowed(
            request.headers.get("Origin"), request.headers.get("Host"), request.scheme
        ):
            return _error(403, "origin_not_allowed")
        if self.needs_token(method, path) and not self.token_ok(
            request.headers.get("Authorization"), self._query_token(path, request.args)
        ):
            return unauthorized()
        if method == "POST" and request.mimetype != "application/json":
            return _error(415, "unsupported_media_type")
        return None

    async def check_websocket(self) -> Response | None:
        """The before-websocket hook: 403 for a foreign origin, then 401 without the token."""
        if websocket.routing_exception is not None:
            return None
        if not self.cors.websocket_allowed(
            websocket.headers.get("Origin"), websocket.headers.get("Host"), websocket.scheme
        ):
            return _error(403, "origin_not_allowed")
        path = websocket.path
        if self.needs_token("GET", path) and not self.token_ok(
            websocket.headers.get("Authorization"), self._query_token(path, websocket.args)
        ):
            return unauthorized()
        return None


def open_routes(settings: Settings) -> list[str]:
    """The control routes `settings` switch on, as "METHOD /path" (`*` marks a prefix).

    Without a token these are open to anyone who can reach the port.
    """
    out = []
    for rule in CONTROL_ROUTES:
        method, _, path = rule.partition(" ")
        flag = _flag_for(path)
        if flag is None or flag(settings):
            out.append(
                f"{'ANY' if method == '*' else method} {path}{'*' if path.endswith('/') else ''}"
            )
    return out


def exposure_warning(settings: Settings) -> str | None:
    """The start-up warning for a non-loopback HOST without API_TOKEN, or None."""
    if settings.api_token or _is_loopback(settings.host):
        return None
    return (
        f"serving on {settings.host} without API_TOKEN: anyone who can reach this port may "
        f"call every route, including {', '.join(open_routes(settings))}"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
