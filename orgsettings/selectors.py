"""Reads for the settings pages: workspaces, API keys, accounts, ingest keys and rate limits
of one org.

Usage "this month" is summed from the UTC day buckets from the first of the current UTC
month (the account day buckets for accounts), so each list costs a fixed number of queries
whatever the number of rows or keys.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from adminapi.models import AdminKey
from console.models import Account, ApiKey, LlmModel, Organization, Workspace
from console.secret_keys import SecretKey
from usage.models import IngestKey, RateLimit
from usage.selectors import bucket_rows, org_models


@dataclass(frozen=True)
class MonthUsage:
    requests: int = 0
    input_tokens: int = 0  # uncached + cache writes (5m and 1h) + cache reads
    output_tokens: int = 0


_SUMS = {
    "requests": Sum("requests"),
    "uncached": Sum("uncached_input_tokens"),
    "write_5m": Sum("cache_write_5m_tokens"),
    "write_1h": Sum("cache_write_1h_tokens"),
    "read": Sum("cache_read_tokens"),
    "output": Sum("output_tokens"),
}


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of the month that ``now`` (default: now) falls in."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_end(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def _usage(row: dict) -> MonthUsage:
    return MonthUsage(
        requests=row["requests"] or 0,
        input_tokens=sum(row[k] or 0 for k in ("uncached", "write_5m", "write_1h", "read")),
        output_tokens=row["output"] or 0,
    )


def _usage_by(
    org: Organization, dimension: str, start: datetime, accounts: bool = False, **filters
) -> dict:
    rows = (
        bucket_rows("day", accounts, org.id, start, _month_end(start))
        .filter(**filters)
        .values(dimension)
        .annotate(**_SUMS)
        .order_by()
    )
    return {row[dimension]: _usage(row) for row in rows}


def workspaces_with_usage(org: Organization, start: datetime) -> list[tuple[Workspace, MonthUsage]]:
    """Each workspace of the org (Default first) with its key count and usage in the month."""
    usage = _usage_by(org, "series__workspace_id", start)
    workspaces = Workspace.objects.filter(org=org).annotate(key_count=Count("api_keys"))
    return [(w, usage.get(w.pk, MonthUsage())) for w in workspaces]


def workspaces(org: Organization) -> QuerySet[Workspace]:
    """The org's workspaces, Default first."""
    return Workspace.objects.filter(org=org)


def workspace(org: Organization, pk: int) -> Workspace | None:
    """One workspace of the org, or None (also when it belongs to another org)."""
    return Workspace.objects.filter(org=org, pk=pk).first()


def api_keys_with_usage(
    org: Organization, start: datetime, workspace: Workspace | None = None
) -> tuple[list[tuple[ApiKey, MonthUsage]], MonthUsage | None]:
    """The org's API keys (of one workspace if given) with usage in the month.

    Also returns the month's usage without any key (console usage), None when there was none.
    """
    filters = {"series__workspace": workspace} if workspace else {}
    usage = _usage_by(org, "series__api_key_id", start, **filters)
    keys = ApiKey.objects.filter(org=org).select_related("workspace", "created_by")
    if workspace is not None:
        keys = keys.filter(workspace=workspace)
    return [(k, usage.get(k.pk, MonthUsage())) for k in keys], usage.get(None)


def api_key(org: Organization, pk: int) -> ApiKey | None:
    """One API key of the org, or None (also when it belongs to another org)."""
    return ApiKey.objects.filter(org=org, pk=pk).select_related("workspace").first()


def accounts_with_usage(
    org: Organization, start: datetime, accounts: list[Account]
) -> list[tuple[Account, MonthUsage]]:
    """``accounts`` (a page of the org's) each with its usage in the month (one query)."""
    usage = _usage_by(
        org,
        "series__account_id",
        start,
        accounts=True,
        series__account_id__in=[a.pk for a in accounts],
    )
    return [(a, usage.get(a.pk, MonthUsage())) for a in accounts]


def accounts(org: Organization) -> QuerySet[Account]:
    """The org's accounts by name, with the member each is linked to."""
    return Account.objects.filter(org=org).select_related("member")


def account(org: Organization, pk: int) -> Account | None:
    """One account of the org, or None (also when it belongs to another org)."""
    return Account.objects.filter(org=org, pk=pk).select_related("member").first()


def members(org: Organization) -> list:
    """The org's members (users), by email: whom an account can be linked to."""
    return list(User.objects.filter(memberships__org=org).order_by("email"))


def secret_keys(org: Organization, model: type[SecretKey]) -> QuerySet[SecretKey]:
    """The org's keys of one kind (ingest or Admin API), newest first, revoked ones included."""
    return model.objects.filter(org=org).select_related("created_by")


def ingest_key(org: Organization, pk: int) -> IngestKey | None:
    """One ingest key of the org, or None (also when it belongs to another org)."""
    return IngestKey.objects.filter(org=org, pk=pk).first()


def admin_key(org: Organization, pk: int) -> AdminKey | None:
    """One Admin API key of the org, or None (also when it belongs to another org)."""
    return AdminKey.objects.filter(org=org, pk=pk).first()


def models_for_limits(org: Organization) -> list[tuple[LlmModel, RateLimit | None]]:
    """Models the org has used or set a limit for, each with its limit (or None)."""
    limits = {r.model_id: r for r in RateLimit.objects.filter(org=org)}
    return [(m, limits.get(m.pk)) for m in org_models(org.pk)]
