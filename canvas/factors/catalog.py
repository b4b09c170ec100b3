"""The factor catalog a chart front end reads (§4.9): factors and the features drawn for each."""

from __future__ import annotations

from canvas.factors.base import Json
from canvas.factors.registry import factor_names

SCHEMA_VERSION = 1

# Per factor: its label and its overlay features as (key, label, default_visible).
_FEATURES: dict[str, tuple[str, tuple[tuple[str, str, bool], ...]]] = {
    "pivot": ("Pivot", (("pivot.major", "Major", True), ("pivot.minor", "Minor", False))),
    "pen": (
        "Pen",
        (
            ("pen.confirmed", "Confirmed", True),
            ("pen.extending", "Extending", True),
            ("pen.candidate", "Candidate", True),
        ),
    ),
    "zhongshu": ("Zhongshu", (("zhongshu.alive", "Alive", True), ("zhongshu.dead", "Dead", True))),
    "anchor": (
        "Anchor",
        (
            ("anchor.current", "Current", True),
            ("anchor.history", "History", True),
            ("anchor.switch", "Switches", True),
        ),
    ),
}

_missing = set(factor_names()) - set(_FEATURES)
if _missing:
    raise RuntimeError(f"factors without a catalog entry: {sorted(_missing)}")


def factor_catalog() -> Json:
    """`{"schema_version":1,"factors":[...]}` in dependency (registry) order."""
    factors = []
    for name in factor_names():
        label, features = _FEATURES[name]
        factors.append(
            {
                "key": name,
                "label": label,
                "default_visible": True,
                "sub_features": [
                    {"key": key, "label": sub, "default_visible": shown}
                    for key, sub, shown in features
                ],
            }
        )
    return {"schema_version": SCHEMA_VERSION, "factors": factors}
