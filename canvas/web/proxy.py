"""Behind a trusted reverse proxy: the client address and scheme it reports (TRUSTED_PROXIES)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from canvas.settings import Network

_SECURE = {"http": "https", "websocket": "wss"}
_PLAIN = {"http": "http", "websocket": "ws"}


class TrustedProxies:
    """ASGI middleware: for connections from a trusted proxy, take the client's address from
    `X-Forwarded-For` and the scheme from `X-Forwarded-Proto`.

    Only the proxies' own additions are believed: the client is the right-most forwarded
    address that is not itself a trusted proxy, so a client cannot pose as another by
    sending its own `X-Forwarded-For`. Other connections are passed on untouched.
    """

    def __init__(self, app: Any, networks: Sequence[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] in _PLAIN and client and self.trusts(client[0]):
            self.rewrite(scope)
        await self.app(scope, receive, send)

    def rewrite(self, scope: dict[str, Any]) -> None:
        """Set `client` and `scheme` in `scope` as the proxy reports them.

        In place, not on a copy: hypercorn's access log reads the same scope, and should
        name the client rather than the proxy.
        """
        forwarded: list[str] = []
        proto = None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"x-forwarded-for":
                forwarded += [p.strip() for p in value.decode("latin-1").split(",")]
            elif name.lower() == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        client = self._client(forwarded)
        if client is not None:
            scope["client"] = (client, 0)
        if proto in ("http", "https", "ws", "wss"):
            secure = proto in ("https", "wss")
            scope["scheme"] = (_SECURE if secure else _PLAIN)[scope["type"]]

    def _client(self, forwarded: list[str]) -> str | None:
        for address in reversed(forwarded):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return None  # a garbled hop: keep the proxy's own address
            if not self.trusts(address):
                return address
        return forwarded[0] if forwarded else None


def behind_proxies(app: Any, networks: Sequence[Network]) -> Any:
    """`app` wrapped in TrustedProxies, or `app` itself when no proxy is trusted."""
    return TrustedProxies(app, networks) if networks else app
