"""Errors of the exchange clients; all are `upstream_error:<reason>` (502) at the web boundary."""

from __future__ import annotations

from canvas.errors import UpstreamError


class ExchangeError(UpstreamError):
    """The exchange gave no usable answer. `reason` is the short machine-readable cause."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message or reason

    def __str__(self) -> str:
        return f"{self.detail}: {self.message}" if self.message != self.reason else self.detail


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached: refused, reset, timed out, name not resolved."""

    def __init__(self, message: str) -> None:
        super().__init__("unreachable", message)


class ExchangeStatusError(ExchangeError):
    """An HTTP status other than 2xx; `code`/`msg` are Binance's error body when it sent one."""

    def __init__(
        self,
        status_code: int,
        code: int | None = None,
        msg: str | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(reason or f"http_{status_code}", msg or f"HTTP {status_code}")
        self.status_code = status_code
        self.code = code
        self.msg = msg


class ExchangeRateLimited(ExchangeStatusError):
    """429 or 418 still answered after the allowed retries; `retry_after` in seconds."""

    def __init__(self, status_code: int, retry_after: float) -> None:
        message = f"HTTP {status_code}, retry after {retry_after:g} s"
        super().__init__(status_code, msg=message, reason="rate_limited")
        self.retry_after = retry_after


class ExchangeMalformed(ExchangeError):
    """A body or message that does not have the documented shape."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed_response", message)


class KlineParseError(ExchangeMalformed):
    """A kline message or row that cannot be used; callers count and skip these."""


class KlineRejected(KlineParseError):
    """A well-formed kline whose values break the candle rules (CONTRACT §1.3)."""


class StreamError(ExchangeError):
    """A kline stream ended; the supervisor reconnects (and backfills over REST)."""


class StreamUnavailable(StreamError):
    """The stream could not be opened (refused, handshake rejected or timed out)."""

    def __init__(self, message: str) -> None:
        super().__init__("stream_unavailable", message)


class StreamClosed(StreamError):
    """The open stream was closed or cut; `code` is the WebSocket close code (1006: cut)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__("stream_closed", message)
        self.code = code


class StreamStalled(StreamError):
    """No message arrived for `silence_timeout` seconds on an open stream."""

    def __init__(self, silence_timeout: float) -> None:
        super().__init__("stream_stalled", f"no message for {silence_timeout:g} s")
        self.silence_timeout = silence_timeout
