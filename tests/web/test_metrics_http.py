"""`GET /metrics` scraped like Prometheus does: an ingest job stuck in backoff is visible."""

from __future__ import annotations

import json

from helpers import eventually, http_client, running_server
from prometheus_client.parser import text_string_to_metric_families

SID = "binance:spot:ETH/USDT:1m"
OFFLINE = "http://127.0.0.1:1"  # nothing listens: every exchange call fails at once


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


async def test_a_job_stuck_in_backoff_shows_in_metrics(tmp_path):
    (tmp_path / "whitelist.json").write_text(json.dumps({"series_ids": [SID]}))
    async with (
        running_server(
            tmp_path,
            ENABLE_INGEST=True,
            ENABLE_RUNTIME_METRICS=True,
            API_TOKEN="scrape-me",
            BINANCE_SPOT_BASE_URL=OFFLINE,
            BINANCE_FUTURES_BASE_URL=OFFLINE,
            BINANCE_SPOT_WS_BASE_URL="ws://127.0.0.1:1",
            BINANCE_FUTURES_WS_BASE_URL="ws://127.0.0.1:1",
        ) as server,
        http_client(server) as client,
    ):
        assert (await client.get("/metrics")).status_code == 401

        async def stuck():
            r = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            samples = _samples(r.text)
            key = ("market_ingest_job_state", (("series_id", SID), ("state", "backoff")))
            return samples if samples.get(key) == 1 else None

        samples = await eventually(stuck)
        assert samples[("market_ingest_jobs", (("state", "backoff"),))] == 1
        assert samples[("market_ingest_job_restarts_total", (("series_id", SID),))] >= 1
        assert samples[("process_cpu_seconds_total", ())] > 0
