"""A short soak (2 simulated days, 3 series) as an ordinary test of the soak's invariants:
nothing lost, no descriptor growth, WAL bounded, every subscriber got every candle once.
Timings are printed by `make soak`, never asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from soaklib import SoakConfig, soak  # noqa: E402

# SQLite checkpoints a WAL at 1,000 pages (4 MB); one more cycle's writes fit well below this.
WAL_BOUND_MB = 16
FD_SLACK = 8


async def test_two_simulated_days_lose_nothing_and_grow_nothing():
    cfg = SoakConfig(
        series=3,
        days=2,
        speed=1800,
        cycle_min=720,
        live_min=30,
        replay_every_min=720,
        read_interval_s=0.1,
        bootstrap=200,
        max_wall_s=120,
    )
    result = await soak(cfg, lambda sample: None)
    assert not result.stopped_early
    assert result.lost == {}, result.lost
    assert result.delivery_problems == {}, result.delivery_problems
    assert dict(result.errors) == {}
    # 3 series x 2 days of 1m candles, plus the 5m series, reached the subscribers.
    assert result.delivered >= 3 * 2 * 1440
    first, last = result.samples[0], result.samples[-1]
    assert [s.day for s in result.samples] == [1.0, 2.0]
    assert last.fds <= first.fds + FD_SLACK
    assert max(s.wal_max_mb for s in result.samples) <= WAL_BOUND_MB
    # Every read kind and the live deliveries ran on both days.
    for s in result.samples:
        assert {"candles", "frame_live", "draw_delta_0", "draw_delta_next", "delivery"} <= set(
            k for k, n in s.count.items() if n
        )
