"""The OpenAPI 3.1 document of every route, built from the routes' own request schemas."""

from __future__ import annotations

from typing import Any

from canvas.candles import MAX_CANDLE_TIME
from canvas.schema import Field, Schema
from canvas.web.api_routes import CONTROL, OPERATIONS, Operation

Json = dict[str, Any]


_ERRORS = {
    400: "Bad request (`invalid series_id: <reason>`, `unsupported exchange`).",
    401: "Missing or wrong token (`unauthorized`).",
    403: "Origin not allowed (`origin_not_allowed`).",
    404: "Not found, no data, or switched off by its flag.",
    409: "Stale factor logic, ledger out of sync or coverage missing.",
    413: "Body over 8 MiB (`payload_too_large`).",
    415: "A POST that is not `application/json` (`unsupported_media_type`).",
    422: "Request validation failed: one `{loc, msg, type}` entry per problem.",
    429: "Rate limited (`rate_limited`).",
    500: "A pipeline step failed after the candles were stored.",
    502: "The exchange failed and nothing is cached (`upstream_error:<reason>`).",
    503: "Service unavailable.",
}


def field_schema(field: Field) -> Json:
    """The JSON Schema of one declared field."""
    out: Json = {"type": field.kind}
    if field.ref is not None:
        ref = {"$ref": f"#/components/schemas/{field.ref}"}
        out = {"type": "array", "items": ref} if field.kind == "array" else ref
    if field.kind == "integer":
        out["format"] = "int64"
    if field.choices:
        out["enum"] = list(field.choices)
    if field.max_length is not None:
        out.update(minLength=1, maxLength=field.max_length)
    bounds = ("minItems", "maxItems") if field.kind == "array" else ("minimum", "maximum")
    for key, value in zip(bounds, (field.lo, field.hi), strict=True):
        if value is not None:
            out[key] = value
    if field.default is not None:
        out["default"] = field.default
    if field.nullable:
        out = {"anyOf": [out, {"type": "null"}]}
    if field.description:
        out["description"] = field.description
    return out


def _parameters(op: Operation) -> list[Json]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in op.path_params
    ]
    for field in op.query.fields if op.query is not None else ():
        params.append(
            {
                "name": field.name,
                "in": "query",
                "required": field.required,
                "schema": field_schema(field),
            }
        )
    return params


def _body(schema: Schema) -> Json:
    doc = {
        "type": "object",
        "properties": {f.name: field_schema(f) for f in schema.fields},
        "required": [f.name for f in schema.fields if f.required],
    }
    return {"required": True, "content": {"application/json": {"schema": doc}}}


def _responses(op: Operation) -> Json:
    ok: Json = {"description": op.ok}
    if op.ok_type == "application/json":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    elif op.ok_type != "application/octet-stream" or op.path_params:
        ok["content"] = {op.ok_type: {"schema": {"type": "string"}}}
    out: Json = {"101" if op.path == "/ws/market" else "200": ok}
    codes = set(op.errors) | ({401} if op.control else set())
    if op.method == "post":
        codes |= {403, 413, 415}
    for code in sorted(codes):
        ref = "ValidationError" if code == 422 and (op.query or op.body) else "Error"
        out[str(code)] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
        }
    return out


def _operation(op: Operation) -> Json:
    out: Json = {
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_') or 'index'}",
        "responses": _responses(op),
    }
    description = " ".join(d for d in (op.description, CONTROL if op.control else "") if d)
    if description:
        out["description"] = description
    params = _parameters(op)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = _body(op.body)
    if op.control:
        out["security"] = [{"bearer": []}]
    return out


def _components() -> Json:
    positive = {"type": "number", "exclusiveMinimum": 0}
    candle = {
        "type": "object",
        "description": "A closed or forming candle (§1.3): strict JSON types, low <= "
        "min(open, close), high >= max(open, close), candle_time a multiple of the timeframe.",
        "required": ["candle_time", "open", "high", "low", "close", "volume"],
        "properties": {
            "candle_time": {"type": "integer", "minimum": 0, "exclusiveMaximum": MAX_CANDLE_TIME},
            "open": positive,
            "high": positive,
            "low": positive,
            "close": positive,
            "volume": {"type": "number", "minimum": 0},
        },
    }
    problem = {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    }
    return {
        "schemas": {
            "Candle": candle,
            "Problem": problem,
            "ValidationError": {
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "detail": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}
                },
            },
            "Error": {"type": "object", "required": ["detail"], "properties": {"detail": {}}},
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    }


def openapi_document(version: str) -> Json:
    """The OpenAPI 3.1 document of Canvas `version`."""
    paths: Json = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Canvas API",
            "version": version,
            "description": "Live market data for trading charts. Times are Unix seconds unless "
            'a name ends in `_ms`; errors are `{"detail": ...}`.',
        },
        "paths": paths,
        "components": _components(),
    }
