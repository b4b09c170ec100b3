"""`GET /openapi.json` and `GET /docs`: every registered route documented, public, readable."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from helpers import http_client, running_server
from openapi_spec_validator import validate

from canvas.web.app import create_app
from canvas.web.docs import render_reference

TOKEN = "s3cret-token"
# Methods every rule gets from Quart; the document lists the ones a route is written for.
_IMPLICIT = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    """`/static/<path:filename>` → `/static/{filename}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def registered_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        # A WebSocket rule is an upgrade, documented as a GET.
        methods = {"GET"} if rule.websocket else set(rule.methods or ()) - _IMPLICIT
        routes |= {(method.lower(), openapi_path(rule.rule)) for method in methods}
    return routes


async def test_every_registered_route_is_in_a_valid_openapi_document(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        r = await client.get("/openapi.json")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        doc = r.json()
        routes = registered_routes(create_app(server.deps))
    validate(doc)  # raises on anything that is not valid OpenAPI 3.1
    assert doc["openapi"] == "3.1.0"
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert ("get", "/ws/market") in routes and ("get", "/static/{filename}") in routes
    assert routes - documented == set()
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["responses"] and op["summary"]


async def test_the_document_comes_from_the_request_schemas(tmp_path):
    async with running_server(tmp_path) as server, http_client(server) as client:
        doc = (await client.get("/openapi.json")).json()
        candles = doc["paths"]["/api/market/candles"]["get"]
        params = {p["name"]: p for p in candles["parameters"]}
        assert params["series_id"]["required"] is True
        assert params["limit"]["schema"] == {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 5000,
            "default": 500,
        }
        assert "422" in candles["responses"]
        batch = doc["paths"]["/api/market/ingest/candles_closed_batch"]["post"]
        body = batch["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["candles"]["maxItems"] == 20_000
        assert batch["security"] == [{"bearer": []}]
        top = doc["paths"]["/api/market/top_markets"]["get"]["parameters"]
        assert {p["name"]: p for p in top}["market"]["schema"]["enum"] == ["spot", "futures"]
        # A wrong value is refused with the message the document's schema implies.
        r = await client.get("/api/market/candles", params={"series_id": "x", "limit": 0})
        assert r.status_code == 422
        assert r.json()["detail"] == [
            {
                "loc": ["query", "limit"],
                "msg": "Input should be greater than or equal to 1",
                "type": "greater_than_equal",
            }
        ]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


async def test_docs_page_and_document_are_public_even_with_scope_all(tmp_path):
    overrides = {"API_TOKEN": TOKEN, "API_TOKEN_SCOPE": "all"}
    async with running_server(tmp_path, **overrides) as server, http_client(server) as client:
        assert (await client.get("/api/market/whitelist")).status_code == 401
        doc = (await client.get("/openapi.json")).json()
        r = await client.get("/docs")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        # Rendered on the server: nothing to fetch from anywhere (no script, no CDN).
        assert "<script" not in r.text and "src=" not in r.text
        text = _Text()
        text.feed(r.text)
        page = " ".join(text.parts)
        for path in doc["paths"]:
            assert path in page, path
        assert "minimum 1, maximum 5000, default 500" in page  # candles' limit, from its schema
        assert r.text == render_reference(doc)
