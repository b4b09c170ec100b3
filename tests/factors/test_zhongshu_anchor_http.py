"""The ZHONGSHU-ANCHOR §5 vectors end to end: real server, real HTTP, every read route."""

from __future__ import annotations

from helpers import candle, http_client, ingest, running_server

Z1_SID = "binance:futures:BTC/USDT:1m"
Z2_SID = "binance:futures:ETH/USDT:1m"
D1_SID = "binance:spot:BTC/USDT:1m"
E2E_SID = "binance:futures:BTC/USDT:5m"
Z1 = [5, 1, 10, 4, 8, 3, 3.5, 9, 8.5, 12, 11, 13, 12]
Z2 = [5, 1, 10, 0.5, 8, 3, 3.5, 9, 8.5, 12, 11, 13, 12]
D1 = [
    (3, 3), (1, 1), (4, 4), (3, 2), (2.2, 2.1), (1, 0.9), (0.9, 0.8), (0.6, 0.5), (0.3, 0.2),
    (0.2, 0.1), (1, 0.9), (2, 1.9), (3, 2.9), (3.6, 3.5), (3, 2.9), (2.8, 2.7), (2.7, 2.6),
]  # fmt: skip
DEAD = "zhongshu.dead:120:600:8.000000:4.000000"


def flat(t, p):
    return candle(t, p, p, p, p)


def ref(kind, start, end, direction):
    return {"kind": kind, "start_time": start, "end_time": end, "direction": direction}


async def get(client, path, **params):
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_vectors_z1_z2_d1_and_the_catalog(tmp_path):
    async with (
        running_server(tmp_path, PIVOT_WINDOW_MAJOR=1, PIVOT_WINDOW_MINOR=1) as server,
        http_client(server) as client,
    ):
        for k, p in enumerate(Z1):  # one candle at a time
            await ingest(client, Z1_SID, flat(60 * (k + 1), p))
        await ingest(client, Z2_SID, *[flat(60 * (k + 1), p) for k, p in enumerate(Z2)])
        for k, (hi, lo) in enumerate(D1):
            await ingest(client, D1_SID, candle(60 * (k + 1), lo, hi, lo, hi))

        # Z1: alive while 420..600, dead at 660; the alive box leaves active_ids at the death.
        at_600 = await get(client, "/api/factor/slices", series_id=Z1_SID, at_time=600)
        alive = at_600["snapshots"]["zhongshu"]["head"]["alive"]
        assert [(a["zg"], a["zd"], a["end_time"], a["formed_reason"]) for a in alive] == [
            (8.0, 4.0, 600, "price_cross")
        ]
        at_660 = await get(client, "/api/factor/slices", series_id=Z1_SID, at_time=660)
        dead = at_660["snapshots"]["zhongshu"]["history"]["dead"]
        assert [(d["start_time"], d["end_time"], d["death_time"]) for d in dead] == [
            (120, 600, 660)
        ]
        draw_600 = await get(client, "/api/draw/delta", series_id=Z1_SID, at_time=600)
        assert {"zhongshu.alive:top", "zhongshu.alive:bottom"} <= set(draw_600["active_ids"])
        draw_660 = await get(client, "/api/draw/delta", series_id=Z1_SID, at_time=660)
        assert not [i for i in draw_660["active_ids"] if i.startswith("zhongshu.alive")]
        assert {f"{DEAD}:top", f"{DEAD}:bottom"} <= set(draw_660["active_ids"])
        patch = {p["instruction_id"]: p for p in draw_660["instruction_catalog_patch"]}
        assert patch[f"{DEAD}:top"]["visible_time"] == 660
        assert patch[f"{DEAD}:top"]["definition"]["points"] == [
            {"time": 120, "value": 8.0},
            {"time": 600, "value": 8.0},
        ]
        assert "anchor.switch:300:1:strong_pen" in draw_660["active_ids"]

        # Z2 (one batch): both switches, the history anchor written at 540.
        at_540 = await get(client, "/api/factor/slices", series_id=Z2_SID, at_time=540)
        assert at_540["factors"] == ["pivot", "pen", "zhongshu", "anchor"]
        anchor = at_540["snapshots"]["anchor"]
        assert anchor["history"]["anchors"] == [
            ref("candidate", 180, 240, -1),
            ref("confirmed", 120, 180, 1),
        ]
        assert anchor["head"] == {"current_anchor_ref": ref("confirmed", 120, 180, 1)}
        frame = await get(client, "/api/frame/at_time", series_id=Z2_SID, at_time=540)
        draw = frame["draw_state"]
        assert {"anchor.switch:300:-1:strong_pen", "anchor.switch:540:1:zhongshu_entry"} <= set(
            draw["active_ids"]
        )
        patch = draw["instruction_catalog_patch"]
        history = [p for p in patch if "anchor.history" in p["instruction_id"]]
        assert [(p["instruction_id"], p["visible_time"]) for p in history] == [
            ("anchor.history:300:180:240:-1", 540)
        ]

        # D1 (one candle at a time): the carried strength, so no switch at 960.
        at_end = await get(client, "/api/factor/slices", series_id=D1_SID, at_time=1020)
        switches = at_end["snapshots"]["anchor"]["history"]["switches"]
        assert [(s["switch_time"], s["reason"]) for s in switches] == [
            (300, "strong_pen"),
            (360, "strong_pen"),
        ]

        r = await client.get("/api/factor/catalog")
        assert r.status_code == 200
        assert r.json() == {
            "schema_version": 1,
            "factors": [
                {"key": "pivot", "label": "Pivot", "default_visible": True, "sub_features": [
                    {"key": "pivot.major", "label": "Major", "default_visible": True},
                    {"key": "pivot.minor", "label": "Minor", "default_visible": False},
                ]},
                {"key": "pen", "label": "Pen", "default_visible": True, "sub_features": [
                    {"key": "pen.confirmed", "label": "Confirmed", "default_visible": True},
                    {"key": "pen.extending", "label": "Extending", "default_visible": True},
                    {"key": "pen.candidate", "label": "Candidate", "default_visible": True},
                ]},
                {"key": "zhongshu", "label": "Zhongshu", "default_visible": True, "sub_features": [
                    {"key": "zhongshu.alive", "label": "Alive", "default_visible": True},
                    {"key": "zhongshu.dead", "label": "Dead", "default_visible": True},
                ]},
                {"key": "anchor", "label": "Anchor", "default_visible": True, "sub_features": [
                    {"key": "anchor.current", "label": "Current", "default_visible": True},
                    {"key": "anchor.history", "label": "History", "default_visible": True},
                    {"key": "anchor.switch", "label": "Switches", "default_visible": True},
                ]},
            ],
        }  # fmt: skip


async def test_e2e_wave_vector(tmp_path):
    values = [*range(1, 61), *range(60, 0, -1), *range(1, 61), *range(60, 0, -1)]
    async with running_server(tmp_path) as server, http_client(server) as client:
        seed = [flat(300 * (i + 1), float(v)) for i, v in enumerate(values)]
        await ingest(client, E2E_SID, *seed)
        await ingest(client, E2E_SID, flat(72300, 1.0))
        at_72000 = await get(client, "/api/factor/slices", series_id=E2E_SID, at_time=72000)
        assert at_72000["factors"] == ["pivot", "pen", "anchor"]
        assert at_72000["snapshots"]["anchor"]["head"] == {
            "current_anchor_ref": ref("confirmed", 18000, 36000, -1)
        }
        live = await get(client, "/api/frame/live", series_id=E2E_SID)
        draw = live["draw_state"]
        assert draw["to_candle_time"] == 72300
        switches = [i for i in draw["active_ids"] if i.startswith("anchor.switch")]
        assert switches == ["anchor.switch:69000:-1:strong_pen"]
        assert not [i for i in draw["active_ids"] if i.startswith("zhongshu")]
        assert "anchor.current" in draw["active_ids"]
        patch = draw["instruction_catalog_patch"]
        current = [p for p in patch if p["instruction_id"] == "anchor.current"]
        assert [(p["visible_time"], p["definition"]["points"]) for p in current] == [
            (69000, [{"time": 18000, "value": 60.0}, {"time": 36000, "value": 1.0}])
        ]
        assert "lineStyle" not in current[0]["definition"]
        assert not [i for i in draw["active_ids"] if i.startswith("anchor.history")]
