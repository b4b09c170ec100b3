"""Replay and the operator's view in a real browser against a real `canvas demo`."""

from __future__ import annotations

from browserlib import DEMO_SERIES, screenshot


def replay_state(page) -> dict:
    return page.evaluate("window.__canvas.state()")


def expected_replay_counts(win: dict, idx: int, first: int, t: int) -> dict:
    """What the package says is drawn at bar idx (§7.5), counted like the page counts."""
    catalog = {item["instruction_id"]: item for item in win["draw_catalog_base"]}
    for item in win["draw_catalog_patch"]:
        if item["visible_time"] <= t:
            catalog[item["instruction_id"]] = item
    checkpoint = max(
        (cp for cp in win["draw_active_checkpoints"] if cp["at_idx"] <= idx),
        key=lambda cp: cp["at_idx"],
    )
    active = set(checkpoint["active_ids"])
    for diff in sorted(win["draw_active_diffs"], key=lambda d: d["at_idx"]):
        if checkpoint["at_idx"] < diff["at_idx"] <= idx:
            active -= set(diff["remove_ids"])
            active |= set(diff["add_ids"])
    defs = [catalog[i]["definition"] for i in active if i in catalog]
    markers = [d for d in defs if d["type"] == "marker" and first <= d["time"] <= t]
    lines = [d for d in defs if d["type"] == "polyline" and len(d["points"]) >= 2]
    return {
        "markers": len(markers),
        "pens": sum(1 for d in lines if d["feature"].startswith("pen.")),
        "zhongshu": sum(1 for d in lines if d["feature"].startswith("zhongshu.")),
        "anchor": sum(1 for d in lines if d["feature"].startswith("anchor.")),
    }


def test_replay_steps_through_a_package(demo, page):
    page.goto(f"{demo.base_url}/?series_id={DEMO_SERIES}&view=replay")
    page.wait_for_function("() => window.__canvas.state().status === 'ready'", timeout=30000)
    page.wait_for_function("() => window.__canvas.state().idx >= 0")
    state = replay_state(page)
    job, total, size = state["jobId"], state["total"], state["windowSize"]
    status = demo.http.get("/api/replay/status", params={"job_id": job}).json()
    assert status["status"] == "done" and status["metadata"]["total_candles"] == total

    def window_of(idx: int) -> dict:
        r = demo.http.get("/api/replay/window", params={"job_id": job, "target_idx": idx})
        assert r.status_code == 200, r.text
        return r.json()["window"]

    first = window_of(0)
    kline = first["kline"]

    def bars_match(idx: int) -> None:
        bars = page.evaluate("window.__canvas.bars()")
        assert len(bars) == idx + 1
        want = kline[: idx + 1] if idx < size else None
        if want is not None:
            assert [(b["time"], b["open"], b["close"]) for b in bars] == [
                (k["time"], k["open"], k["close"]) for k in want
            ]

    idx = state["idx"]
    bars_match(idx)
    page.evaluate("window.__canvas.replay.step(1)")
    assert replay_state(page)["idx"] == idx + 1
    bars_match(idx + 1)
    page.evaluate("window.__canvas.replay.step(-1)")
    bars_match(idx)

    last = total - 1
    page.evaluate(f"window.__canvas.replay.seek({last})")
    state = replay_state(page)
    assert state["idx"] == last
    assert state["barTime"] == status["metadata"]["to_candle_time"]
    assert len(page.evaluate("window.__canvas.bars()")) == total
    win = window_of(last)
    want = expected_replay_counts(win, last, kline[0]["time"], state["barTime"])
    got = page.evaluate("window.__canvas.counts()")
    assert {k: got[k] for k in want} == want
    assert want["markers"] > 0 and want["pens"] > 0
    assert "pivot" in state["factors"]

    # Playing moves bar by bar from the start; pausing stops it.
    page.evaluate("window.__canvas.replay.seek(0)")
    page.evaluate("window.__canvas.replay.play()")
    page.wait_for_function("() => window.__canvas.state().idx >= 5")
    page.evaluate("window.__canvas.replay.pause()")
    assert not replay_state(page)["playing"]
    page.evaluate(f"window.__canvas.replay.seek({min(last, 300)})")
    screenshot(page, "replay")
    assert page.console.errors == []


def test_ops_table_lists_the_demo_jobs(demo, page):
    page.goto(f"{demo.base_url}/?view=ops")
    whitelist = demo.http.get("/api/market/whitelist").json()["series_ids"]
    page.wait_for_function(
        "(n) => document.querySelectorAll('#ops-jobs tr[data-series-id]').length >= n",
        arg=len(whitelist),
    )
    jobs = page.eval_on_selector_all(
        "#ops-jobs tr[data-series-id]", "rows => rows.map(r => r.dataset.seriesId)"
    )
    assert sorted(jobs) == sorted(whitelist)
    states = page.eval_on_selector_all("#ops-jobs .badge", "els => els.map(e => e.textContent)")
    assert set(states) <= {"starting", "running", "backoff", "stopped"}
    assert page.is_visible("#ops-series tr[data-series-id]")
    # Each job shows the shared exchange connection its stream is on, as ingest_state says
    # (once the jobs' streams are up: a job still starting has none yet).
    page.wait_for_function(
        "() => [...document.querySelectorAll('#ops-jobs tr[data-series-id]')]"
        ".every(r => r.dataset.connection !== '')"
    )
    api = demo.http.get("/api/market/debug/ingest_state").json()["jobs"]
    shown = dict(
        page.eval_on_selector_all(
            "#ops-jobs tr[data-series-id]",
            "rows => rows.map(r => [r.dataset.seriesId, r.dataset.connection])",
        )
    )
    assert {j["series_id"]: j["connection"] or "" for j in api} == shown
    # The table refreshes by itself.
    stamp = page.text_content("#ops-meta")
    page.wait_for_function(
        "(s) => document.querySelector('#ops-meta').textContent !== s", arg=stamp
    )
    screenshot(page, "ops")
    assert page.console.errors == []


def test_ops_view_explains_a_disabled_debug_api(demo, page):
    page.route(
        "**/api/market/debug/ingest_state",
        lambda route: route.fulfill(
            status=404, content_type="application/json", body='{"detail":"not_found"}'
        ),
    )
    page.goto(f"{demo.base_url}/?view=ops")
    page.wait_for_selector("#ops-note:not(.hidden)")
    assert "TRADE_CANVAS_ENABLE_DEBUG_API=1" in page.text_content("#ops-note")
    assert not page.is_visible("#ops-jobs")
