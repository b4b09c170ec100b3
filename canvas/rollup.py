"""Rolling 1m candles up into higher timeframes (CONTRACT §1.5), as pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from canvas.candles import Row

BASE_TF = 60


def rollup(base_rows: Iterable[Row], tf: int) -> Iterator[Row]:
    """Derived candles of every complete `tf` bucket among ascending 1m `base_rows`.

    A bucket B = floor(t/tf)*tf is complete when all tf/60 minutes are present; its candle has
    the first open, the highest high, the lowest low, the last close and the summed volume.
    """
    need = tf // BASE_TF
    bucket: int | None = None
    acc: list[Row] = []
    for row in base_rows:
        b = row[0] - row[0] % tf
        if b != bucket:
            if len(acc) == need:
                yield _combine(bucket, acc)
            bucket, acc = b, []
        acc.append(row)
    if len(acc) == need and bucket is not None:
        yield _combine(bucket, acc)


def _combine(bucket: int, rows: list[Row]) -> Row:
    return (
        bucket,
        rows[0][1],
        max(r[2] for r in rows),
        min(r[3] for r in rows),
        rows[-1][4],
        sum(r[5] for r in rows),
    )


def buckets_touched(times: Iterable[int], tf: int) -> set[int]:
    """The `tf` buckets that contain any of the given base times."""
    return {t - t % tf for t in times}
