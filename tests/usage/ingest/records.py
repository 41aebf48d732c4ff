"""Records for the ingest tests: a valid record with changes, a run, the stored rows."""

from console.models import Organization
from usage.ingest.services import IngestResult, ingest_records
from usage.models import IngestBatch, RequestLog, Series

T0 = "2026-10-01T12:00:00Z"
_counter = iter(range(10**9))
DROP = object()


def rec(**fields) -> dict:
    """A valid record; keyword arguments override or (with DROP as value) remove."""
    record = {"request_id": f"req_{next(_counter)}", "timestamp": T0, "model": "claude-sonnet-4-5"}
    for name, value in fields.items():
        if value is DROP:
            record.pop(name, None)
        else:
            record[name] = value
    return record


def run(org: Organization, *records, **kwargs) -> IngestResult:
    """Ingest the records as one HTTP submission (positions are indexes)."""
    return ingest_records(org, enumerate(records), source=IngestBatch.Source.HTTP, **kwargs)


def stored(org) -> list[dict]:
    """The organisation's raw rows with their dimensions spelled out, in request_id order."""
    rows = RequestLog.objects.filter(org=org).order_by("request_id")
    series = {s.pk: s for s in Series.objects.filter(org=org).select_related()}
    out = []
    for row in rows:
        s = series[row.series_id]
        out.append(
            {
                "request_id": row.request_id,
                "timestamp": row.timestamp,
                "workspace": s.workspace.external_id,
                "api_key": s.api_key.external_id if s.api_key else None,
                "account": s.account.external_id if s.account else None,
                "model": s.model.model_id,
                "service_tier": s.service_tier,
                "context_window": s.context_window,
                "status_code": row.status_code,
                "rate_limit_type": row.rate_limit_type,
                "uncached": row.uncached_input_tokens,
                "write_5m": row.cache_write_5m_tokens,
                "write_1h": row.cache_write_1h_tokens,
                "read": row.cache_read_tokens,
                "output": row.output_tokens,
                "web_search": row.web_search_requests,
                "code_ms": row.code_execution_ms,
            }
        )
    return out


def mixed_batch() -> list[dict]:
    """One of each: duplicates, a key claimed elsewhere, a rejection, offsets, tiers."""
    dup = rec(workspace_id="w1", api_key_id="k1", usage={"input_tokens": 5})
    return [
        dup,
        rec(
            workspace_id="w1",
            workspace_name="One",
            api_key_id="k1",
            account_id="ada@example.com",
            account_name="Ada Lovelace",
            service_tier="priority",
            usage={"input_tokens": 250_000, "cache_creation_input_tokens": 10},
            code_execution_seconds=0.5,
        ),
        rec(workspace_id="w2", api_key_id="k2", model="claude-opus-4-1", account_id="svc-etl"),
        rec(
            status_code=429, rate_limit_type="output_tokens", timestamp="2026-10-01T10:00:00+05:45"
        ),
        dict(dup),
        rec(workspace_id="w3", api_key_id="k1"),  # key claimed by w1
        rec(usage={"output_tokens": -1}),
        rec(usage={"server_tool_use": {"web_search_requests": 3}}),
    ]
