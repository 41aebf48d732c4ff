"""The OpenAPI 3.1 document of the Admin API, built from the constants the views validate with.

Parameter names are written exactly as clients send them (``group_by[]``, form style,
exploded), so a generated client keeps Anthropic's query-string conventions. The response
schemas are checked against real answers by ``tests/adminapi/test_openapi.py``.
"""

from adminapi import selectors, views

NULLABLE_STRING = {"type": ["string", "null"]}


def _param(name, schema, description, *, required=False) -> dict:
    param = {"name": name, "in": "query", "required": required, "description": description}
    param["schema"] = schema
    if name.endswith("[]"):
        param |= {"style": "form", "explode": True}
    return param


def _array(name, description, items=None) -> dict:
    items = items or {"type": "string"}
    return _param(f"{name}[]", {"type": "array", "items": items}, description)


def _enum(values) -> dict:
    return {"type": "string", "enum": list(values)}


TIME_PARAMS = [
    _param(
        "starting_at",
        {"type": "string", "format": "date-time"},
        "Buckets that start on or after this RFC 3339 time; snapped to the start of its "
        "UTC minute, hour or day.",
        required=True,
    ),
    _param(
        "ending_at",
        {"type": "string", "format": "date-time"},
        "Buckets that end at or before this time (exclusive; may be unaligned, e.g. now). "
        "Without it, buckets run up to the current one.",
    ),
    _param("page", {"type": "string"}, "The next_page token of the previous answer."),
]
LIST_PARAMS = [
    _param("after_id", {"type": "string"}, "The page right after this object."),
    _param("before_id", {"type": "string"}, "The page right before this object."),
    _param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
        "Objects per page.",
    ),
]
_limits = ", ".join(f"{w}: default {d}, max {m}" for w, (d, m) in views.USAGE_LIMITS.items())
USAGE_PARAMS = [
    *TIME_PARAMS,
    _param("bucket_width", {**_enum(views.USAGE_LIMITS), "default": "1d"}, "Bucket width."),
    _param(
        "limit",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": max(m for _d, m in views.USAGE_LIMITS.values()),
        },
        f"Buckets per page ({_limits}).",
    ),
    _array("api_key_ids", "Only usage of these API key ids."),
    _array("workspace_ids", "Only usage of these workspace ids."),
    _array("models", "Only usage of these models."),
    _array("service_tiers", "Only usage of these service tiers.", _enum(views.SERVICE_TIERS)),
    _array("context_window", "Only usage of these context windows.", _enum(views.CONTEXT_WINDOWS)),
    _array("group_by", "Dimensions to group by; the others are null.", _enum(views.USAGE_GROUPS)),
]
COST_PARAMS = [
    *TIME_PARAMS,
    _param("bucket_width", {**_enum(["1d"]), "default": "1d"}, "Only 1d."),
    _param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": views.COST_LIMITS[1], "default": 7},
        "Buckets (days) per page.",
    ),
    _array("group_by", "Group by workspace and/or description.", _enum(views.COST_GROUPS)),
    _param(
        "include_priority_tier",
        {"type": "boolean"},
        "Meterboard's own: include Priority Tier costs, which Anthropic's report leaves out "
        "(default: the ADMINAPI_COST_INCLUDE_PRIORITY_TIER setting, false).",
    ),
]

USAGE_RESULT = {
    "type": "object",
    "required": [
        "uncached_input_tokens",
        "cache_creation",
        "cache_read_input_tokens",
        "output_tokens",
        "server_tool_use",
        *selectors.DIMENSIONS,
    ],
    "properties": {
        "uncached_input_tokens": {"type": "integer"},
        "cache_creation": {
            "type": "object",
            "required": ["ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"],
            "properties": {
                "ephemeral_1h_input_tokens": {"type": "integer"},
                "ephemeral_5m_input_tokens": {"type": "integer"},
            },
        },
        "cache_read_input_tokens": {"type": "integer"},
        "output_tokens": {"type": "integer"},
        "server_tool_use": {
            "type": "object",
            "required": ["web_search_requests"],
            "properties": {"web_search_requests": {"type": "integer"}},
        },
        **{d: NULLABLE_STRING for d in selectors.DIMENSIONS},
    },
}
COST_FIELDS = ("description", "cost_type", "model", "service_tier", "context_window", "token_type")
COST_RESULT = {
    "type": "object",
    "required": ["amount", "currency", "workspace_id", *COST_FIELDS],
    "properties": {
        "amount": {
            "type": "string",
            "pattern": r"^-?\d+(\.\d+)?$",
            "description": "Cents, as a decimal string with every digit.",
        },
        "currency": {"const": "USD"},
        "workspace_id": NULLABLE_STRING,
        **{f: NULLABLE_STRING for f in COST_FIELDS},
    },
}


def _report(result: dict) -> dict:
    bucket = {
        "type": "object",
        "required": ["starting_at", "ending_at", "results"],
        "properties": {
            "starting_at": {"type": "string", "format": "date-time"},
            "ending_at": {"type": "string", "format": "date-time"},
            "results": {"type": "array", "items": result},
        },
    }
    return {
        "type": "object",
        "required": ["data", "has_more", "next_page"],
        "properties": {
            "data": {"type": "array", "items": bucket},
            "has_more": {"type": "boolean"},
            "next_page": NULLABLE_STRING,
        },
    }


WORKSPACE = {
    "type": "object",
    "required": ["type", "id", "name", "created_at", "archived_at"],
    "properties": {
        "type": {"const": "workspace"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "archived_at": NULLABLE_STRING,
    },
}
API_KEY = {
    "type": "object",
    "required": [
        "type",
        "id",
        "name",
        "workspace_id",
        "created_at",
        "created_by",
        "partial_key_hint",
        "status",
    ],
    "properties": {
        "type": {"const": "api_key"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "workspace_id": NULLABLE_STRING,
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {"id": NULLABLE_STRING, "type": {"const": "user"}},
        },
        "partial_key_hint": NULLABLE_STRING,
        "status": _enum(["active", "inactive"]),
    },
}


def _list(item: dict) -> dict:
    return {
        "type": "object",
        "required": ["data", "has_more", "first_id", "last_id"],
        "properties": {
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "first_id": NULLABLE_STRING,
            "last_id": NULLABLE_STRING,
        },
    }


ERROR = {
    "type": "object",
    "required": ["type", "error", "request_id"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": _enum(
                    [
                        "invalid_request_error",
                        "authentication_error",
                        "not_found_error",
                        "rate_limit_error",
                    ]
                ),
                "message": {"type": "string"},
            },
        },
        "request_id": {"type": "string"},
    },
}
SCHEMAS = {
    "UsageReport": _report(USAGE_RESULT),
    "CostReport": _report(COST_RESULT),
    "Workspace": WORKSPACE,
    "WorkspaceList": _list(WORKSPACE),
    "ApiKey": API_KEY,
    "ApiKeyList": _list(API_KEY),
    "Error": ERROR,
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(operation_id, summary, params, schema, *, not_found=False) -> dict:
    def answer(description, name):
        return {
            "description": description,
            "headers": {"request-id": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": _ref(name)}},
        }

    responses = {
        "200": answer("OK", schema),
        "400": answer("A parameter is invalid; the message names it.", "Error"),
        "401": answer("The key is missing, unknown or revoked.", "Error"),
        "429": answer("Too many requests for this key; see retry-after.", "Error"),
    }
    responses["429"]["headers"]["retry-after"] = {"schema": {"type": "integer"}}
    if not_found:
        responses["404"] = answer("No such object in this organisation.", "Error")
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": params,
            "responses": responses,
        }
    }


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> dict:
    """The OpenAPI 3.1 document of every Admin API endpoint."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Meterboard Admin API",
            "version": "2023-06-01",
            "description": "Anthropic's Usage & Cost Admin API, read-only, for one "
            'organisation per key. See the README section "Reading Meterboard from '
            "Anthropic's Admin API clients\" for the differences from Anthropic's.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "AdminKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"AdminKey": []}, {"Bearer": []}],
        "paths": {
            "/v1/organizations/usage_report/messages": _operation(
                "getMessagesUsageReport", "Token usage per UTC bucket", USAGE_PARAMS, "UsageReport"
            ),
            "/v1/organizations/cost_report": _operation(
                "getCostReport", "Cost per UTC day, in cents", COST_PARAMS, "CostReport"
            ),
            "/v1/organizations/workspaces": _operation(
                "listWorkspaces",
                "Workspaces (not the Default one)",
                [*LIST_PARAMS, _param("include_archived", {"type": "boolean"}, "Accepted.")],
                "WorkspaceList",
            ),
            "/v1/organizations/workspaces/{workspace_id}": _operation(
                "getWorkspace",
                "One workspace",
                [_path_param("workspace_id")],
                "Workspace",
                not_found=True,
            ),
            "/v1/organizations/api_keys": _operation(
                "listApiKeys",
                "API keys seen in request logs",
                [
                    *LIST_PARAMS,
                    _param("status", _enum(views.KEY_STATUSES), "Only keys with this status."),
                    _param("workspace_id", {"type": "string"}, "Only keys of this workspace."),
                    _param("created_by_user_id", {"type": "string"}, "Only keys this user made."),
                ],
                "ApiKeyList",
            ),
            "/v1/organizations/api_keys/{api_key_id}": _operation(
                "getApiKey", "One API key", [_path_param("api_key_id")], "ApiKey", not_found=True
            ),
        },
    }
