"""The schema of a series ledger: every component and its numbered migrations, in one place.

Each feature keeps its SQL beside its code (a `MIGRATIONS` tuple); this module is the one list
of which features a series ledger holds, and `canvas.storage.db.open_db` applies it. A new
component is added here, with its migrations; a new migration is appended to its feature's
tuple (never edited in place: `schema_versions` records how many steps of each have run).
"""

from __future__ import annotations

from canvas.factors import store as factor_store
from canvas.overlay import store as overlay_store
from canvas.storage import candle_ledger

# A component's name as recorded in `schema_versions`, and its ordered migration scripts.
Component = tuple[str, tuple[str, ...]]

# Applied in this order, in one transaction. The names and step counts are what existing
# ledgers recorded: renaming a component would re-run its first step on every old ledger.
LEDGER_SCHEMA: tuple[Component, ...] = (
    ("candles", candle_ledger.MIGRATIONS),
    ("factors", factor_store.MIGRATIONS),
    ("overlay", overlay_store.MIGRATIONS),
)
