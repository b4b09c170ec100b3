"""A simulated Binance exchange (spot + futures REST and kline streams) for tests and demos."""

from canvas.simexchange.clock import SimClock
from canvas.simexchange.config import SimConfig, SimHandle, SimStatistics
from canvas.simexchange.listings import DEFAULT_SYMBOLS, Listing, Listings, SymbolSpec
from canvas.simexchange.market import INTERVALS_MS, Bar, SimMarket
from canvas.simexchange.server import SimExchange, open_simexchange

__all__ = [
    "DEFAULT_SYMBOLS",
    "INTERVALS_MS",
    "Bar",
    "Listing",
    "Listings",
    "SimClock",
    "SimConfig",
    "SimExchange",
    "SimHandle",
    "SimMarket",
    "SimStatistics",
    "SymbolSpec",
    "open_simexchange",
]
