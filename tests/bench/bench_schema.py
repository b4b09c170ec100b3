"""Batch-ingest body validation, in process: µs per candle for each way of checking §1.3.

Decodes one 2,000-candle `candles_closed_batch` body and validates every candle with the
strict rules of CONTRACT §1.3, three ways:
- `canvas`: what the batch route runs (canvas/schema.py and canvas/web/market.py);
- `msgspec`: a typed msgspec decode (Struct + Meta constraints) plus the cross-field rules;
- `pydantic`: a strict pydantic TypeAdapter `validate_json` plus the cross-field rules.
The two library candidates run only when installed (they are not Canvas dependencies). Each
candidate is also fed a few hostile bodies, to show whether it refuses them (and how many
problems it lists), since a fast path that accepts a bad candle or stops at the first problem
does not meet the contract.

Run: .venv/bin/python tests/bench/bench_schema.py [--candles 2000] [--repeat 30]
(No `from __future__ import annotations`: the candidates define their schemas in functions.)
"""

import argparse
import json
import math
import time
from collections.abc import Callable
from typing import Annotated, Any

from benchlib import random_walk

from canvas.errors import ValidationFailed
from canvas.series_id import SeriesId
from canvas.web.market import BATCH_BODY, batch_rows

SID = "binance:futures:BTC/USDT:1m"
INT64 = 2**63


def canvas_path(data: bytes) -> list[tuple]:
    """What the batch route does with a body: decode, validate, rows (raises ValidationFailed)."""
    doc = BATCH_BODY.parse(data)
    series = SeriesId.parse(doc["series_id"])
    return batch_rows(doc["candles"], series.tf)


def _cross_field(c: Any, tf: int) -> None:
    """The rules a static schema cannot hold: the series' timeframe, low/high vs open/close."""
    if c.candle_time % tf or c.low > min(c.open, c.close) or c.high < max(c.open, c.close):
        raise ValidationFailed.one(["body", "candles"], "candle breaks a cross-field rule")


def msgspec_path() -> Callable[[bytes], list[tuple]] | None:
    try:
        import msgspec
    except ImportError:
        return None
    positive = Annotated[float, msgspec.Meta(gt=0)]

    class Candle(msgspec.Struct):
        candle_time: Annotated[int, msgspec.Meta(ge=0, lt=10**11)]
        open: positive
        high: positive
        low: positive
        close: positive
        volume: Annotated[float, msgspec.Meta(ge=0)]

    class Batch(msgspec.Struct):
        series_id: str
        candles: Annotated[list[Candle], msgspec.Meta(min_length=1, max_length=20_000)]
        publish_ws: bool = True

    decoder = msgspec.json.Decoder(Batch)

    def run(data: bytes) -> list[tuple]:
        try:
            body = decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise ValidationFailed.one(["body"], str(exc)) from None
        tf = SeriesId.parse(body.series_id).tf
        rows = []
        for c in body.candles:
            values = (c.open, c.high, c.low, c.close, c.volume)
            if not all(map(math.isfinite, values)):
                raise ValidationFailed.one(["body"], "not finite")
            _cross_field(c, tf)
            rows.append((c.candle_time, *values))
        return rows

    return run


def pydantic_path() -> Callable[[bytes], list[tuple]] | None:
    try:
        import pydantic
    except ImportError:
        return None
    from pydantic import BaseModel, ConfigDict, Field

    positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]

    class Candle(BaseModel):
        model_config = ConfigDict(strict=True)
        candle_time: Annotated[int, Field(ge=0, lt=10**11)]
        open: positive
        high: positive
        low: positive
        close: positive
        volume: Annotated[float, Field(ge=0, allow_inf_nan=False)]

    class Batch(BaseModel):
        model_config = ConfigDict(strict=True)
        series_id: str
        candles: Annotated[list[Candle], Field(min_length=1, max_length=20_000)]
        publish_ws: bool = True

    adapter = pydantic.TypeAdapter(Batch)

    def run(data: bytes) -> list[tuple]:
        try:
            body = adapter.validate_json(data)
        except pydantic.ValidationError as exc:
            raise ValidationFailed(exc.errors(include_url=False, include_context=False)) from None
        tf = SeriesId.parse(body.series_id).tf
        rows = []
        for c in body.candles:
            _cross_field(c, tf)
            rows.append((c.candle_time, c.open, c.high, c.low, c.close, c.volume))
        return rows

    return run


def hostile_bodies(candles: list[dict]) -> dict[str, bytes]:
    """Bodies every candidate must refuse; the last breaks three candles at once."""

    def body(bad: dict, at: int = 5) -> bytes:
        cs = list(candles)
        cs[at] = {**cs[at], **bad}
        return json.dumps({"series_id": SID, "candles": cs}).encode()

    nan = json.dumps({"series_id": SID, "candles": candles[:3]}).replace(
        '"open": ', '"open": NaN, "x": ', 1
    )
    three = [dict(c) for c in candles]
    for i in (3, 7, 11):
        three[i]["low"] = three[i]["high"] * 2
    return {
        "float time": body({"candle_time": 60.0}),
        "bool price": body({"open": True}),
        "string volume": body({"volume": "1"}),
        "NaN token": nan.encode(),
        "huge int": body({"open": 2**70}),
        "float overflow": body({"high": "1e999"}).replace(b'"1e999"', b"1e999"),
        "off-grid time": body({"candle_time": candles[5]["candle_time"] + 1}),
        "low above open": body({"low": 10**6}),
        "3 bad candles": json.dumps({"series_id": SID, "candles": three}).encode(),
    }


def refusals(run: Callable[[bytes], list[tuple]], bodies: dict[str, bytes]) -> str:
    out = []
    for name, data in bodies.items():
        try:
            run(data)
            out.append(f"{name}: ACCEPTED")
        except ValidationFailed as exc:
            out.append(f"{name}: 422x{len(exc.problems)}")
        except Exception as exc:  # noqa: BLE001 - a candidate that crashes is reported so
            out.append(f"{name}: {type(exc).__name__}")
    return "; ".join(out)


def per_candle_us(run: Callable[[bytes], list[tuple]], data: bytes, n: int, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(data)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candles", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    candles = random_walk(args.candles)
    data = json.dumps({"series_id": SID, "candles": candles}).encode()
    bodies = hostile_bodies(candles)
    candidates = {"canvas": canvas_path, "msgspec": msgspec_path(), "pydantic": pydantic_path()}
    for name, run in candidates.items():
        if run is None:
            print(f"{name:9s} not installed")
            continue
        assert len(run(data)) == args.candles
        us = per_candle_us(run, data, args.candles, args.repeat)
        print(f"{name:9s} {us:6.2f} µs/candle  ({args.candles} candles, best of {args.repeat})")
        print(f"          {refusals(run, bodies)}")


if __name__ == "__main__":
    main()
