"""The factor registry (dependency order) and the logic hash that pins a ledger to it (§4.5)."""

from __future__ import annotations

import hashlib
import json

from canvas.factors.anchor import AnchorFactor
from canvas.factors.base import AnalyticsParams, Factor
from canvas.factors.pen import PenFactor
from canvas.factors.pivot import PivotFactor
from canvas.factors.zhongshu import ZhongshuFactor

# Every factor, each after the ones it depends on. Adding a factor means writing its module
# and listing it here; engine, ledger, slices and logic hash all iterate this tuple.
FACTORS: tuple[type[Factor], ...] = (PivotFactor, PenFactor, ZhongshuFactor, AnchorFactor)

LOGIC_CONTRACT = "factor_logic_v1"


def _check_order(factors: tuple[type[Factor], ...]) -> None:
    seen: set[str] = set()
    for f in factors:
        missing = [d for d in f.DEPENDS if d not in seen]
        if missing:
            raise RuntimeError(f"factor {f.NAME!r} is registered before its dependencies {missing}")
        if f.NAME in seen:
            raise RuntimeError(f"factor {f.NAME!r} is registered twice")
        seen.add(f.NAME)


_check_order(FACTORS)


def factor_names() -> list[str]:
    return [f.NAME for f in FACTORS]


def factor_class(name: str) -> type[Factor]:
    for f in FACTORS:
        if f.NAME == name:
            return f
    raise KeyError(name)


def event_kind(name: str, key: str) -> str:
    """The kind of a stored event: the factor's `EVENT_KIND`, else the key's first part."""
    fixed = getattr(factor_class(name), "EVENT_KIND", None)
    return fixed if fixed is not None else key.split(":", 1)[0]


def logic_hash(params: AnalyticsParams) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, no spaces) of the logic identity."""
    doc = {
        "contract": LOGIC_CONTRACT,
        "factors": {f.NAME: f.LOGIC_VERSION for f in FACTORS},
        "params": params.hash_params(),
        "override": params.logic_override or "",
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
