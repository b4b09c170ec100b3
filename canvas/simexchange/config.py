"""Settings of a simulated exchange, where a running one listens, and its statistics."""

from __future__ import annotations

import attrs

from canvas.simexchange.listings import DEFAULT_SYMBOLS


@attrs.frozen
class SimConfig:
    """Settings of one simulated exchange.

    `start_ms` None starts the sim clock at the wall-clock time of construction; `speed` is
    the clock factor; `control_port` None serves no separate control port.
    """

    host: str = "127.0.0.1"
    port: int = 0
    control_port: int | None = 0
    seed: int = 0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    extras: bool = True
    start_ms: int | None = None
    speed: float = 1.0
    messages_per_bucket: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    idle_timeout: float = 30.0
    # Exchange limits (Binance: 10 control messages/s per connection, 300 new connections per
    # 5 minutes per IP, every connection closed after 24 h); None turns a limit off.
    control_per_second: int = 10
    connection_limit: int | None = None
    connection_window_s: float = 300.0
    connection_lifetime_s: float | None = None


@attrs.frozen
class SimHandle:
    """Where a running sim listens. REST bases take `/api/v3/...` or `/fapi/v1/...`, WS bases
    take `/ws/<symbol>@kline_<interval>` or `/stream?streams=a/b`; `/_sim/...` control endpoints are on both ports."""

    host: str
    port: int
    control_port: int | None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def spot_rest_base(self) -> str:
        return f"{self.base_url}/spot"

    @property
    def futures_rest_base(self) -> str:
        return f"{self.base_url}/futures"

    @property
    def spot_ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}/spot"

    @property
    def futures_ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}/futures"

    @property
    def control_base(self) -> str:
        port = self.port if self.control_port is None else self.control_port
        return f"http://{self.host}:{port}"


@attrs.frozen
class SimStatistics:
    """A snapshot of the sim: its clock, open streams and connections, and active faults."""

    now_ms: int
    speed: float
    open_streams: int
    open_connections: int
    rest_requests: int
    stream_messages: int
    refusing: bool
    silent: bool
    rate_limited_remaining: int
    kline_streams: int = 0
    connections_accepted: int = 0
    connections_rejected: int = 0
    control_messages: int = 0
