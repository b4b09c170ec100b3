"""CORS for browser chart front ends: allow-listed origins, preflights, the WebSocket check."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
from quart import Response

ALLOW_METHODS = "GET, POST, OPTIONS"
MAX_AGE = "600"


@attrs.frozen
class CorsPolicy:
    origins: tuple[str, ...]

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.origins or origin in self.origins)

    def decorate(self, response: Response, origin: str | None) -> None:
        """Add the CORS headers for an allowed origin (none for others)."""
        if not self.allows(origin):
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")

    def preflight(self, origin: str | None, requested_headers: str | None) -> Response:
        response = Response("", status=204)
        if self.allows(origin):
            self.decorate(response, origin)
            response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            if requested_headers:
                response.headers["Access-Control-Allow-Headers"] = requested_headers
            response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    def websocket_allowed(self, origin: str | None, host: str | None, scheme: str) -> bool:
        """No Origin (non-browser), an allowed origin, or the server's own origin."""
        if not origin:
            return True
        if self.allows(origin):
            return True
        parts = urlsplit(origin)
        if not parts.hostname or not host:
            return False
        default_port = 443 if parts.scheme in ("https", "wss") else 80
        origin_host = f"{parts.hostname}:{parts.port or default_port}"
        req_host, _, req_port = host.rpartition(":") if ":" in host else (host, "", "")
        if not req_host:
            req_host = host
        req_default = 443 if scheme in ("https", "wss") else 80
        own = f"{req_host.lower()}:{req_port or req_default}"
        return origin_host.lower() == own
