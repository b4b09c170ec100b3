"""Engine: JSON state round trips, checkpoints, registry order and the logic hash (§4.5)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from factor_support import TF, params_st, series
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas.factors import registry
from canvas.factors.base import AnalyticsParams
from canvas.factors.engine import FactorEngine


@settings(max_examples=150, deadline=None)
@given(series(), params_st, st.integers(0, 48))
def test_restore_from_json_then_continue_equals_uninterrupted(bars, params, cut):
    whole = FactorEngine.create(params, TF)
    expected = whole.run(bars)

    first = FactorEngine.create(params, TF)
    a = first.run(bars[:cut])
    state = json.loads(json.dumps(first.export_state()))
    resumed = FactorEngine.restore(params, TF, state)
    b = resumed.run(bars[cut:])

    assert a.events + b.events == expected.events
    assert a.heads + b.heads == expected.heads
    assert json.dumps(resumed.export_state()) == json.dumps(whole.export_state())


def test_checkpoints_every_n_candles_restore_exactly():
    params = AnalyticsParams(pivot_window_major=2, pivot_window_minor=1)
    bars = [(60 * k, 1.0 + k % 7, 2.0 + k % 5, 0.5 + k % 3, 1.0, 1.0) for k in range(1, 40)]
    out = FactorEngine.create(params, TF).run(bars, checkpoint_every=10)
    assert [t for t, _ in out.checkpoints] == [600, 1200, 1800]
    t, state = out.checkpoints[1]
    resumed = FactorEngine.restore(params, TF, state)
    rest = resumed.run([b for b in bars if b[0] > t])
    whole = FactorEngine.create(params, TF).run(bars)
    assert [e for e in whole.events if e.visible_time > t] == rest.events


def test_logic_hash_is_sha256_of_canonical_json():
    params = AnalyticsParams(pivot_window_major=50, pivot_window_minor=5, logic_override="")
    doc = (
        '{"contract":"factor_logic_v1",'
        '"factors":{"anchor":1,"pen":1,"pivot":1,"zhongshu":1},"override":"",'
        '"params":{"pivot_window_major":50,"pivot_window_minor":5}}'
    )
    assert registry.logic_hash(params) == hashlib.sha256(doc.encode()).hexdigest()


def test_logic_hash_changes_with_params_and_override():
    base = registry.logic_hash(AnalyticsParams())
    assert registry.logic_hash(AnalyticsParams(pivot_window_major=49)) != base
    assert registry.logic_hash(AnalyticsParams(logic_override="2")) != base
    # The overlay window is not factor logic.
    assert registry.logic_hash(AnalyticsParams(overlay_window_candles=10)) == base


def test_registry_is_in_dependency_order():
    assert registry.factor_names() == ["pivot", "pen", "zhongshu", "anchor"]
    with pytest.raises(RuntimeError):
        registry._check_order((registry.FACTORS[1], registry.FACTORS[0]))


def test_params_validate_windows():
    with pytest.raises(ValueError):
        AnalyticsParams(pivot_window_major=0)


def test_pure_core_imports_no_io_or_async_libraries():
    pure = [
        "canvas.factors.engine",
        "canvas.factors.slices",
        "canvas.overlay.deriver",
        "canvas.overlay.replies",
    ]
    code = (
        f"import sys; import {', '.join(pure)}; "
        "print(sorted(m for m in ('apsw', 'trio', 'quart') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
