"""`GET /openapi.json` and `GET /docs`: the API document and its reference page, served here.

The page is rendered on the server from the same document, so it needs no script, no CDN and
no build step; both are public like the chart page (canvas/web/guard.py).
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from quart import Blueprint, Response, current_app

from canvas.web.healthz import package_version
from canvas.web.json_response import json_response
from canvas.web.openapi import Json, openapi_document

blueprint = Blueprint("docs", __name__)

_DOCUMENT = "canvas.openapi"
_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:62rem;padding:1rem 2rem;
color:#1f2937}
h1{margin-bottom:0}h2{border-bottom:1px solid #d1d5db;margin-top:2rem;text-transform:capitalize}
section{border:1px solid #e5e7eb;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.m{display:inline-block;min-width:3.5rem;font-weight:700;color:#fff;border-radius:4px;
text-align:center;margin-right:.5rem}.get{background:#2563eb}.post{background:#16a34a}
code{background:#f3f4f6;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #e5e7eb;padding:.2rem .4rem;
text-align:left;vertical-align:top}ul{margin:0;padding-left:1.2rem}
"""


def _document() -> Json:
    # Built once per app: the document depends only on the code and its version.
    doc = current_app.extensions.get(_DOCUMENT)
    if doc is None:
        doc = current_app.extensions[_DOCUMENT] = openapi_document(package_version())
    return doc


@blueprint.get("/openapi.json")
async def openapi_json() -> Response:
    """The OpenAPI 3.1 document of every route."""
    return json_response(_document())


@blueprint.get("/docs")
async def docs_page() -> Response:
    """The API reference, one section per route, grouped by tag."""
    html = render_reference(_document())
    return Response(html, content_type="text/html; charset=utf-8")


_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escaped text whose `backticked` parts are set as code."""
    return _CODE.sub(r"<code>\1</code>", escape(text))


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_text(s) for s in schema["anyOf"])
    text = str(schema.get("type", "any"))
    if schema.get("type") == "array" and "items" in schema:
        text = f"array of {_schema_text(schema['items'])}"
    facts = [
        f"{key} {json.dumps(schema[key])}"
        for key in ("enum", "minimum", "maximum", "minItems", "maxItems", "maxLength", "default")
        if key in schema
    ]
    return text + (f" ({', '.join(facts)})" if facts else "")


def _fields_table(rows: list[tuple[str, bool, dict[str, Any]]]) -> str:
    body = "".join(
        f"<tr><td><code>{escape(name)}</code>{' *' if required else ''}</td>"
        f"<td>{escape(_schema_text(schema))}</td>"
        f"<td>{_inline(schema.get('description', ''))}</td></tr>"
        for name, required, schema in rows
    )
    return f"<table><tr><th>name</th><th>type</th><th>note</th></tr>{body}</table>"


def _operation_html(method: str, path: str, op: Json) -> str:
    parts = [
        (
            f'<section id="{escape(op["operationId"])}"><h3><span class="m {method}">'
            f"{method.upper()}</span><code>{escape(path)}</code></h3>"
        ),
        f"<p>{_inline(op['summary'])}</p>",
    ]
    if "description" in op:
        parts.append(f"<p>{_inline(op['description'])}</p>")
    params = [(p["name"], p["required"], p["schema"]) for p in op.get("parameters", [])]
    if params:
        parts.append("<h4>Parameters</h4>" + _fields_table(params))
    if "requestBody" in op:
        body = op["requestBody"]["content"]["application/json"]["schema"]
        rows = [(n, n in body["required"], s) for n, s in body["properties"].items()]
        parts.append("<h4>JSON body</h4>" + _fields_table(rows))
    answers = "".join(
        f"<li><code>{code}</code> {_inline(r['description'])}</li>"
        for code, r in op["responses"].items()
    )
    parts.append(f"<h4>Responses</h4><ul>{answers}</ul></section>")
    return "".join(parts)


def render_reference(doc: Json) -> str:
    """The reference page of an OpenAPI document, as one HTML string."""
    by_tag: dict[str, list[str]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append(_operation_html(method, path, op))
    info = doc["info"]
    sections = "".join(f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    shapes = "".join(
        f"<section><h3>{escape(name)}</h3><p>{_inline(schema.get('description', ''))}</p>"
        + _fields_table(
            [(n, n in schema["required"], s) for n, s in schema.get("properties", {}).items()]
        )
        + "</section>"
        for name, schema in doc["components"]["schemas"].items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(info['title'])} reference</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>"
        f"<p>{_inline(info['description'])} The machine-readable document is "
        '<a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>'
        f"{sections}<h2>Shapes</h2>{shapes}</body></html>"
    )
