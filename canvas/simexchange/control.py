"""HTTP control endpoints `/_sim/...`, so another process can drive the simulator's faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from canvas.simexchange.httpserve import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from canvas.simexchange.server import SimExchange


class _BadParam(Exception):
    pass


def _number(query: dict[str, str], name: str, *, default: float | None = None) -> float | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _BadParam(f"{name} must be a number") from None
    if not (value >= 0 and value != float("inf")):
        raise _BadParam(f"{name} must be finite and >= 0")
    return value


def _count(query: dict[str, str], name: str, default: int) -> int:
    value = _number(query, name, default=default)
    assert value is not None
    if value != int(value):
        raise _BadParam(f"{name} must be an integer")
    return int(value)


async def _state(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    return attrs.asdict(sim.statistics())


async def _drop(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    return {"dropped": sim.drop_streams()}


async def _silence(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    sim.go_silent(_number(query, "seconds"))
    return {"silent": True}


async def _resume(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    sim.resume_streams()
    return {"silent": False}


async def _rate_limit(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    count = _count(query, "count", 1)
    status = _count(query, "status", 429)
    retry_after = _number(query, "retry_after", default=1)
    assert retry_after is not None
    try:
        sim.rate_limit(count, status=status, retry_after=retry_after)
    except ValueError as exc:
        raise _BadParam(str(exc)) from None
    return {"count": count, "status": status, "retry_after": retry_after}


async def _malformed(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    return {"streams": await sim.inject_malformed(_count(query, "count", 1))}


async def _refuse(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    await sim.refuse_connections(_number(query, "seconds"), keep=spare)
    return {"refusing": True}


async def _accept(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    await sim.accept_connections()
    return {"refusing": False}


async def _clock(sim: SimExchange, query: dict[str, str], spare: object) -> Any:
    speed = _number(query, "speed")
    if speed is not None:
        sim.clock.set_speed(speed)
    advance = _count(query, "advance_ms", 0)
    if advance:
        sim.clock.advance(advance)
    return {"now_ms": sim.clock.now_ms(), "speed": sim.clock.speed}


_Action = Callable[["SimExchange", dict[str, str], object], Awaitable[Any]]
# name → (method, action); GET only reads, POST changes the simulation.
_ACTIONS: dict[str, tuple[str, _Action]] = {
    "state": ("GET", _state),
    "drop": ("POST", _drop),
    "silence": ("POST", _silence),
    "resume": ("POST", _resume),
    "rate_limit": ("POST", _rate_limit),
    "malformed": ("POST", _malformed),
    "refuse": ("POST", _refuse),
    "accept": ("POST", _accept),
    "clock": ("POST", _clock),
}


async def handle_control(sim: SimExchange, request: HttpRequest, *, spare: object) -> HttpResponse:
    """Answer `/_sim/<action>`; `spare` is the requesting connection (kept by `refuse`).

    Parameters come from the query string: `silence?seconds=`, `rate_limit?count=&status=
    &retry_after=`, `malformed?count=`, `refuse?seconds=`, `clock?speed=&advance_ms=`.
    """
    name = request.path.removeprefix("/_sim/")
    entry = _ACTIONS.get(name)
    if entry is None:
        return HttpResponse.json(404, {"error": f"unknown control action {name!r}"})
    method, action = entry
    if request.method != method:
        return HttpResponse.json(405, {"error": f"use {method}"})
    try:
        payload = await action(sim, request.query, spare)
    except _BadParam as exc:
        return HttpResponse.json(400, {"error": str(exc)})
    # A refusing market port must not keep the connection that asked for it.
    return attrs.evolve(HttpResponse.json(200, payload), close=name == "refuse")
