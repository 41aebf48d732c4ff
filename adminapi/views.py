"""Anthropic's Admin API, read-only, for one organisation per key.

Every API answer carries a ``request-id`` header; every error is Anthropic's shape
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with Anthropic's status
codes (400 invalid_request_error, 401 authentication_error, 404 not_found_error, 405, 429
rate_limit_error with ``retry-after``).
"""

import datetime as dt

from django.conf import settings

from adminapi import selectors
from adminapi.gate import admin_api
from adminapi.params import (
    ApiError,
    Query,
    boolean,
    choices,
    integer,
    invalid,
    page_token,
    read_page,
    timestamp,
)
from usage.retention import minute_retention_horizon, minutes_dropped

# bucket_width -> (default limit, maximum limit), from Anthropic's reference.
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
COST_LIMITS = (7, 31)
SERVICE_TIERS = ("standard", "batch", "priority", "priority_on_demand", "flex", "flex_discount")
CONTEXT_WINDOWS = ("0-200k", "200k-1M")
USAGE_GROUPS = tuple(selectors.DIMENSIONS)
# In Anthropic's reference, but this server has no such data.
UNSUPPORTED_GROUPS = ("service_account_id", "inference_geo", "speed")
UNSUPPORTED_FILTERS = ("service_account_ids", "inference_geos", "speeds")
COST_GROUPS = ("workspace_id", "description")
KEY_STATUSES = {"active": "active", "inactive": "disabled", "archived": None, "expired": None}


def _report_window(query: Query, bucket_width: str, limits: tuple[int, int]):
    starting_at = timestamp(query, "starting_at", required=True)
    ending_at = timestamp(query, "ending_at")
    if ending_at is not None and ending_at <= starting_at:
        raise invalid("ending_at: must be after starting_at.")
    default, maximum = limits
    limit = integer(query, "limit", default=default, low=1, high=maximum)
    return selectors.window(
        starting_at=starting_at,
        ending_at=ending_at,
        page=read_page(query),
        width=selectors.WIDTHS[bucket_width],
        limit=limit,
        now=dt.datetime.now(dt.UTC),
    )


def _report(data: list, page) -> dict:
    has_more = page.next_start is not None
    return {
        "data": data,
        "has_more": has_more,
        "next_page": page_token(page.next_start) if has_more else None,
    }


@admin_api
def usage_messages(request, org, query):
    """GET /v1/organizations/usage_report/messages: token usage per UTC bucket."""
    bucket_width = query.scalar("bucket_width") or "1d"
    if bucket_width not in USAGE_LIMITS:
        raise invalid(f"bucket_width: {bucket_width[:16]!r} is not one of 1d, 1h, 1m.")
    for name in UNSUPPORTED_FILTERS:
        if query.array(name):
            raise invalid(f"{name}: is not supported by this server (no such data).")
    page = _report_window(query, bucket_width, USAGE_LIMITS[bucket_width])
    group_by = choices(query, "group_by", USAGE_GROUPS, UNSUPPORTED_GROUPS)
    filters = {
        "api_key_id": query.array("api_key_ids"),
        "workspace_id": query.array("workspace_ids"),
        "model": query.array("models"),
        "service_tier": choices(query, "service_tiers", SERVICE_TIERS),
        "context_window": choices(query, "context_window", CONTEXT_WINDOWS),
        "account_id": query.array("account_ids"),
    }
    # Minute buckets are dropped after MINUTE_RETENTION_DAYS: refuse rather than answer zeros
    # (a read by account takes its minutes from raw logs, kept longer).
    by_account = "account_id" in group_by or bool(filters["account_id"])
    if bucket_width == "1m" and page.starts and minutes_dropped(page.start, by_account):
        raise invalid(
            f"starting_at: 1m buckets are kept for {settings.MINUTE_RETENTION_DAYS} days "
            f"(from {selectors.rfc3339(minute_retention_horizon())}); use 1h or 1d for older "
            "usage."
        )
    return _report(selectors.usage_report(org, page, bucket_width, group_by, filters), page)


@admin_api
def cost_report(request, org, query):
    """GET /v1/organizations/cost_report: USD cost per UTC day, in cents."""
    bucket_width = query.scalar("bucket_width") or "1d"
    if bucket_width != "1d":
        raise invalid(f"bucket_width: {bucket_width[:16]!r} is not 1d (the only width).")
    page = _report_window(query, bucket_width, COST_LIMITS)
    group_by = choices(query, "group_by", COST_GROUPS)
    include_priority = boolean(
        query,
        "include_priority_tier",
        default=settings.ADMINAPI_COST_INCLUDE_PRIORITY_TIER,
    )
    data = selectors.cost_report(
        org,
        page,
        by_workspace="workspace_id" in group_by,
        by_description="description" in group_by,
        include_priority=include_priority,
    )
    return _report(data, page)


def _list_page(query: Query, items: list, ident) -> dict:
    """One page of a list by after_id / before_id / limit (1 to 1000, default 20)."""
    limit = integer(query, "limit", default=20, low=1, high=1000)
    after_id, before_id = query.scalar("after_id"), query.scalar("before_id")
    if after_id and before_id:
        raise invalid("after_id and before_id cannot be given together.")
    ids = [ident(item) for item in items]
    if after_id:
        if after_id not in ids:
            raise invalid(f"after_id: no such object {after_id[:64]!r}.")
        start = ids.index(after_id) + 1
        chosen, has_more = items[start : start + limit], start + limit < len(items)
    elif before_id:
        if before_id not in ids:
            raise invalid(f"before_id: no such object {before_id[:64]!r}.")
        end = ids.index(before_id)
        chosen, has_more = items[max(0, end - limit) : end], end - limit > 0
    else:
        chosen, has_more = items[:limit], limit < len(items)
    return {
        "data": chosen,
        "has_more": has_more,
        "first_id": ident(chosen[0]) if chosen else None,
        "last_id": ident(chosen[-1]) if chosen else None,
    }


def _workspace(workspace) -> dict:
    return {
        "type": "workspace",
        "id": workspace.external_id,
        "name": workspace.name,
        "created_at": selectors.rfc3339(workspace.created_at),
        "archived_at": None,
    }


def _api_key(key) -> dict:
    return {
        "type": "api_key",
        "id": key.external_id,
        "name": key.name,
        "workspace_id": key.workspace.external_id,
        "created_at": selectors.rfc3339(key.created_at),
        "created_by": {
            "id": f"user_{key.created_by_id}" if key.created_by_id else None,
            "type": "user",
        },
        # Meterboard only ever sees a key's id in logs, never the key itself.
        "partial_key_hint": None,
        "status": "active" if key.status == "active" else "inactive",
    }


@admin_api
def workspace_list(request, org, query):
    """GET /v1/organizations/workspaces."""
    boolean(query, "include_archived", default=False)  # nothing is archived here
    items = [_workspace(w) for w in selectors.workspaces(org)]
    return _list_page(query, items, lambda item: item["id"])


@admin_api
def workspace_detail(request, org, query, workspace_id):
    """GET /v1/organizations/workspaces/{workspace_id}."""
    found = selectors.workspaces(org).filter(external_id=workspace_id).first()
    if found is None:
        raise ApiError(404, "not_found_error", f"Workspace {workspace_id[:64]!r} not found.")
    return _workspace(found)


@admin_api
def api_key_list(request, org, query):
    """GET /v1/organizations/api_keys, optionally by status, workspace_id, created_by_user_id."""
    keys = selectors.api_keys(org)
    status = query.scalar("status")
    if status:
        if status not in KEY_STATUSES:
            raise invalid(f"status: {status[:32]!r} is not one of {', '.join(KEY_STATUSES)}.")
        keys = keys.filter(status=KEY_STATUSES[status]) if KEY_STATUSES[status] else keys.none()
    workspace_id = query.scalar("workspace_id")
    if workspace_id:
        keys = keys.filter(workspace__external_id=workspace_id)
    items = [_api_key(k) for k in keys]
    created_by = query.scalar("created_by_user_id")
    if created_by:
        items = [item for item in items if item["created_by"]["id"] == created_by]
    return _list_page(query, items, lambda item: item["id"])


@admin_api
def api_key_detail(request, org, query, api_key_id):
    """GET /v1/organizations/api_keys/{api_key_id}."""
    found = selectors.api_keys(org).filter(external_id=api_key_id).first()
    if found is None:
        raise ApiError(404, "not_found_error", f"API key {api_key_id[:64]!r} not found.")
    return _api_key(found)


@admin_api
def not_found(request, org, query, rest):
    """Any other path under /v1/: Anthropic's 404."""
    raise ApiError(404, "not_found_error", "Not found.")
