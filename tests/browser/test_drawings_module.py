"""The page's draw-state module (static/js/drawings.js) run in the browser on known inputs.

Zhongshu and anchor instructions (ZHONGSHU-ANCHOR.md §3, vector Z1) are fed to the same code
the chart uses, so boxes, anchor lines and counts are checked whether or not the server in
front of the test computes those factors yet.
"""

from __future__ import annotations

GREEN_EDGE = "rgba(22,163,74,0.72)"

Z1_AT_660 = [
    [
        "anchor.switch:300:1:strong_pen",
        {
            "type": "marker",
            "feature": "anchor.switch",
            "time": 300,
            "position": "belowBar",
            "color": "#f59e0b",
            "shape": "arrowUp",
            "text": "A",
            "size": 1.0,
        },
    ],
    [
        "pivot.major:180:resistance:1",
        {
            "type": "marker",
            "feature": "pivot.major",
            "time": 180,
            "position": "aboveBar",
            "color": "#ef4444",
            "shape": "circle",
            "text": "",
            "size": 1.0,
        },
    ],
    [
        "pivot.major:9999:support:1",  # outside the loaded candles: not drawn
        {
            "type": "marker",
            "feature": "pivot.major",
            "time": 9999,
            "position": "belowBar",
            "color": "#22c55e",
            "shape": "circle",
            "size": 1.0,
        },
    ],
    [
        "zhongshu.dead:120:600:8.000000:4.000000:top",
        {
            "type": "polyline",
            "feature": "zhongshu.dead",
            "points": [{"time": 120, "value": 8}, {"time": 600, "value": 8}],
            "color": "rgba(74,222,128,0.58)",
            "lineWidth": 2,
            "entryDirection": 1,
        },
    ],
    [
        "zhongshu.dead:120:600:8.000000:4.000000:bottom",
        {
            "type": "polyline",
            "feature": "zhongshu.dead",
            "points": [{"time": 120, "value": 4}, {"time": 600, "value": 4}],
            "color": "rgba(74,222,128,0.58)",
            "lineWidth": 2,
            "entryDirection": 1,
        },
    ],
    [
        "zhongshu.alive:top",
        {
            "type": "polyline",
            "feature": "zhongshu.alive",
            "points": [{"time": 480, "value": 12}, {"time": 660, "value": 12}],
            "color": "rgba(220,38,38,0.72)",
            "lineWidth": 2,
            "entryDirection": -1,
        },
    ],
    [
        "zhongshu.alive:bottom",
        {
            "type": "polyline",
            "feature": "zhongshu.alive",
            "points": [{"time": 480, "value": 9}, {"time": 660, "value": 9}],
            "color": "rgba(220,38,38,0.72)",
            "lineWidth": 2,
            "entryDirection": -1,
        },
    ],
    [
        "anchor.current",
        {
            "type": "polyline",
            "feature": "anchor.current",
            "points": [{"time": 120, "value": 1}, {"time": 180, "value": 10}],
            "color": "#f59e0b",
            "lineWidth": 2,
        },
    ],
    [
        "anchor.history:300:180:240:-1",
        {
            "type": "polyline",
            "feature": "anchor.history",
            "points": [{"time": 180, "value": 10}, {"time": 240, "value": 0.5}],
            "color": "rgba(59,130,246,0.55)",
            "lineWidth": 1,
            "lineStyle": "dashed",
        },
    ],
]


def render(page, pairs, hidden=(), first=60, last=780):
    return page.evaluate(
        """async ([pairs, hidden, first, last]) => {
            const m = await import('/static/js/drawings.js');
            return m.renderDrawings(pairs, (f) => !hidden.includes(f), first, last);
        }""",
        [pairs, list(hidden), first, last],
    )


def test_zhongshu_boxes_anchor_lines_and_counts(demo, page):
    page.goto(f"{demo.base_url}/?view=ops")
    out = render(page, Z1_AT_660)
    assert out["counts"]["markers"] == 2  # the out-of-range pivot is left out
    assert out["counts"]["anchorSwitch"] == 1
    assert out["counts"]["zhongshu"] == 4  # two edges per box (the reference's count)
    assert out["counts"]["anchor"] == 2
    boxes = {b["id"]: b for b in out["boxes"]}
    assert boxes == {
        "zhongshu.dead:120:600:8.000000:4.000000": {
            "id": "zhongshu.dead:120:600:8.000000:4.000000",
            "feature": "zhongshu.dead",
            "from": 120,
            "to": 600,
            "top": 8,
            "bottom": 4,
            "fill": "rgba(74,222,128,0.12)",
        },
        "zhongshu.alive": {
            "id": "zhongshu.alive",
            "feature": "zhongshu.alive",
            "from": 480,
            "to": 660,
            "top": 12,
            "bottom": 9,
            "fill": "rgba(220,38,38,0.18)",
        },
    }
    lines = {line["id"]: line for line in out["polylines"]}
    assert lines["anchor.history:300:180:240:-1"]["dashed"] is True
    assert lines["anchor.current"]["dashed"] is False
    assert lines["anchor.current"]["width"] == 2
    switch = next(m for m in out["markers"] if m["feature"] == "anchor.switch")
    assert (switch["shape"], switch["position"], switch["text"]) == ("arrowUp", "belowBar", "A")

    # A hidden feature draws nothing, its box included; the others stay.
    out = render(page, Z1_AT_660, hidden=["zhongshu.alive", "anchor.switch"])
    assert [b["feature"] for b in out["boxes"]] == ["zhongshu.dead"]
    assert out["counts"]["zhongshu"] == 2 and out["counts"]["anchorSwitch"] == 0


def test_legend_counts_pens_and_boxes(demo, page):
    page.goto(f"{demo.base_url}/?view=ops")
    pen = {
        "type": "polyline",
        "feature": "pen.confirmed",
        "points": [{"time": t, "value": v} for t, v in ((120, 4), (180, 1), (240, 5))],
    }
    counts = page.evaluate(
        """async (pairs) => (await import('/static/js/drawings.js')).featureCounts(pairs)""",
        [*Z1_AT_660, ["pen.confirmed", pen]],
    )
    assert counts == {
        "anchor.switch": 1,
        "pivot.major": 2,
        "zhongshu.dead": 1,
        "zhongshu.alive": 1,
        "anchor.current": 1,
        "anchor.history": 1,
        "pen.confirmed": 2,
    }


def test_replay_draw_state_from_checkpoints_and_diffs(demo, page):
    """§7.5: base + patch by visible time; nearest checkpoint, then the diffs after it."""
    page.goto(f"{demo.base_url}/?view=ops")

    def item(version, iid, visible, value):
        return {
            "version_id": version,
            "instruction_id": iid,
            "kind": "polyline",
            "visible_time": visible,
            "definition": {
                "type": "polyline",
                "feature": "pen.confirmed",
                "points": [{"time": 0, "value": value}, {"time": visible, "value": value}],
            },
        }

    win = {
        "draw_catalog_base": [item(1, "a", 100, 1.0)],
        "draw_catalog_patch": [item(2, "b", 160, 2.0), item(3, "a", 220, 3.0)],
        "draw_active_checkpoints": [{"at_idx": 10, "active_ids": ["a"]}],
        "draw_active_diffs": [
            {"at_idx": 11, "add_ids": ["b"], "remove_ids": []},
            {"at_idx": 12, "add_ids": [], "remove_ids": ["b"]},
        ],
    }
    script = """async ([win, idx, t]) => {
        const m = await import('/static/js/drawings.js');
        return m.replayDefinitions(win, idx, t);
    }"""
    at = {idx: page.evaluate(script, [win, idx, t]) for idx, t in ((10, 100), (11, 160), (12, 220))}
    assert [pair[0] for pair in at[10]] == ["a"]
    assert [pair[0] for pair in at[11]] == ["a", "b"]
    assert [pair[0] for pair in at[12]] == ["a"]
    assert at[12][0][1]["points"][0]["value"] == 3.0  # the patch version visible by then
    assert at[11][0][1]["points"][0]["value"] == 1.0
    assert at[10] == [["a", item(1, "a", 100, 1.0)["definition"]]]
