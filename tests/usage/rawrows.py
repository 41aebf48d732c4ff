"""Write raw request logs straight to the tables, the way ingest stores them.

Rollup tests use this so that they exercise the rollup alone; an independent aggregate of
the same rows (``expected_buckets``) is what the buckets are compared against.
"""

import datetime as dt
import itertools
from collections import Counter, defaultdict

from django.db import transaction

from console.models import LlmModel, Workspace
from usage.models import (
    AccountDayBucket,
    DayBucket,
    HourBucket,
    IngestBatch,
    MinuteBucket,
    ModelDayBucket,
    ModelHourBucket,
    ModelQuarterHourBucket,
    QuarterHourBucket,
    RequestId,
    RequestLog,
    Series,
    request_digest,
)
from usage.rollups import BUCKET_COLUMNS, COUNT_COLUMNS

_ids = itertools.count(1)


def series_for(
    org,
    *,
    workspace=None,
    api_key=None,
    model="claude-sonnet-4-5-20250929",
    service_tier="standard",
    context_window="0-200k",
    account=None,
) -> Series:
    """The series of these dimensions (with its base first, as ingest creates them)."""
    workspace = workspace or Workspace.objects.get(org=org, is_default=True)
    llm = LlmModel.objects.get_or_create(model_id=model)[0]
    dims = dict(
        org=org,
        workspace=workspace,
        api_key=api_key,
        model=llm,
        service_tier=service_tier,
        context_window=context_window,
    )
    base = Series.objects.get_or_create(**dims, account=None)[0]
    if account is None:
        return base
    return Series.objects.get_or_create(**dims, account=account, defaults={"base": base})[0]


def raw(series: Series, timestamp: dt.datetime, **counts) -> RequestLog:
    """An unsaved raw row; counts default to zero, status to 200."""
    return RequestLog(
        org_id=series.org_id,
        series=series,
        timestamp=timestamp,
        request_id=counts.pop("request_id", f"req_{next(_ids):012d}"),
        **counts,
    )


@transaction.atomic
def store_batch(org, rows: list[RequestLog], source="import") -> IngestBatch:
    """Store rows as one accepted batch (with their de-duplication keys)."""
    batch = IngestBatch.objects.create(org=org, source=source, accepted=len(rows))
    for row in rows:
        row.batch_id = batch.id
    RequestId.objects.bulk_create(
        RequestId(org=org, digest=request_digest(r.request_id)) for r in rows
    )
    RequestLog.objects.bulk_create(rows)
    return batch


def _truncate(ts: dt.datetime, unit: str) -> dt.datetime:
    ts = ts.astimezone(dt.UTC)
    if unit == "minute":
        return ts.replace(second=0, microsecond=0)
    if unit == "quarter":
        return ts.replace(minute=ts.minute // 15 * 15, second=0, microsecond=0)
    if unit == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def expected_buckets(rows, unit: str, family: str = "base") -> dict:
    """Independent aggregate: {(series_id, start): Counter of bucket columns}, by base series
    (the account left out) or, for ``family="account"``, by series as logged."""
    out: dict = defaultdict(Counter)
    for r in rows:
        series_id = r.series_id if family == "account" else (r.series.base_id or r.series_id)
        c = out[(series_id, _truncate(r.timestamp, unit))]
        c["requests"] += 1
        if r.status_code == 429:
            c["rate_limited_requests"] += 1
            if r.rate_limit_type:
                c[f"rate_limited_by_{r.rate_limit_type}"] += 1
        for column in COUNT_COLUMNS:
            c[column] += getattr(r, column)
    return {k: {col: v[col] for col in BUCKET_COLUMNS} for k, v in out.items()}


def stored_buckets(org, unit: str, family: str = "base") -> dict:
    model = {
        "minute": MinuteBucket,
        "quarter": QuarterHourBucket,
        "hour": HourBucket,
        "day": DayBucket,
    }[unit]
    if family == "account":
        model = AccountDayBucket
    return {
        (b["series_id"], b["start"]): {col: b[col] for col in BUCKET_COLUMNS}
        for b in model.objects.filter(org=org).values("series_id", "start", *BUCKET_COLUMNS)
    }


def expected_model_buckets(rows, unit: str) -> dict:
    """Independent aggregate over API key and account: {(workspace id, model id, tier,
    window, start): Counter of bucket columns}, each row's dimensions read from its series."""
    series = {s.id: s for s in Series.objects.filter(id__in={r.series_id for r in rows})}
    out: dict = defaultdict(Counter)
    for (series_id, start), counts in expected_buckets(rows, unit, family="account").items():
        s = series[series_id]
        out[(s.workspace_id, s.model_id, s.service_tier, s.context_window, start)].update(counts)
    return {k: {col: v[col] for col in BUCKET_COLUMNS} for k, v in out.items()}


def stored_model_buckets(org, unit: str) -> dict:
    model = {"quarter": ModelQuarterHourBucket, "hour": ModelHourBucket, "day": ModelDayBucket}[
        unit
    ]
    dims = ("workspace_id", "model_id", "service_tier", "context_window", "start")
    return {
        tuple(b[d] for d in dims): {col: b[col] for col in BUCKET_COLUMNS}
        for b in model.objects.filter(org=org).values(*dims, *BUCKET_COLUMNS)
    }


def raw_rows_of(org) -> list[RequestLog]:
    return list(RequestLog.objects.filter(org=org).select_related("series"))
