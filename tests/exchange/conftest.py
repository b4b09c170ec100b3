"""A paused simulated exchange per test and Binance clients pointed at it."""

import pytest

from canvas.exchange import BinanceEndpoints, BinanceRest
from canvas.simexchange import SimConfig, SimHandle, open_simexchange

START_MS = 1_735_689_630_000  # 2025-01-01 00:00:30 UTC, halfway through a minute


def endpoints_for(handle: SimHandle) -> BinanceEndpoints:
    return BinanceEndpoints(
        spot_rest=handle.spot_rest_base,
        futures_rest=handle.futures_rest_base,
        spot_ws=handle.spot_ws_base,
        futures_ws=handle.futures_ws_base,
    )


@pytest.fixture
async def sim():
    config = SimConfig(start_ms=START_MS, speed=0, control_port=None)
    async with open_simexchange(config) as sim:
        yield sim


@pytest.fixture
async def rest(sim):
    async with BinanceRest.open(endpoints_for(sim.handle), timeout=5) as client:
        yield client
