"""The one error tree of Canvas; each error knows its HTTP status and `detail`."""

from __future__ import annotations

from typing import Any


class CanvasError(Exception):
    """Base of every error a caller can react to.

    `status` is the HTTP status the web layer answers with and `detail` the body's
    `detail` value; `extra` holds further top-level body fields.
    """

    status: int = 500
    detail: Any = "internal_error"

    def __init__(self, detail: Any = None, *, status: int | None = None, **extra: Any) -> None:
        if detail is not None:
            self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra
        super().__init__(str(self.detail))

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.extra}


class InvalidSeriesId(CanvasError):
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid series_id: {reason}")
        self.reason = reason


class ValidationFailed(CanvasError):
    """Request validation: 422 with a list of `{loc, msg, type}` problems."""

    status = 422

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems)
        self.problems = problems

    @classmethod
    def one(cls, loc: list[Any], msg: str, type_: str = "value_error") -> ValidationFailed:
        return cls([{"loc": loc, "msg": msg, "type": type_}])


class NotFound(CanvasError):
    status = 404
    detail = "not_found"


class NoData(CanvasError):
    status = 404
    detail = "no_data"


class Conflict(CanvasError):
    status = 409


class LedgerOutOfSync(Conflict):
    def __init__(self, what: str) -> None:
        super().__init__(f"ledger_out_of_sync:{what}")


class StaleFactorLogic(Conflict):
    pass


class CoverageMissing(Conflict):
    detail = "coverage_missing"


class RateLimited(CanvasError):
    status = 429
    detail = "rate_limited"


class UpstreamError(CanvasError):
    status = 502

    def __init__(self, reason: str) -> None:
        super().__init__(f"upstream_error:{reason}")


class PipelineFailed(CanvasError):
    """A factor or overlay step failed after the candles were stored."""

    status = 500

    def __init__(self, step: str, series_id: str) -> None:
        super().__init__("market.ingest_pipeline_failed", step=step, series_id=series_id)
        self.step = step


class ServiceUnavailable(CanvasError):
    status = 503
    detail = "service_unavailable"


class Capacity(CanvasError):
    """No on-demand ingest slot is free for a new series."""

    status = 503
    detail = "ondemand_ingest_capacity"
