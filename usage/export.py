"""The Usage page as CSV: one row per period (and group), in the view's time zone.

Columns: see ``CSV_COLUMNS``; the counts sum exactly to the page's totals, and a finer
granularity than the bars shown (hours of a month, minutes of a day) adds up the same.
The dimension columns name the group of a row when grouped by it, else the filter (e.g.
"All workspaces"); the account (User) has two, its external id (empty for all users or
usage without an account) and its name, so a program can match people by id.
"""

from collections.abc import Callable
from decimal import Decimal

from console import exports, timeslice
from usage import selectors
from usage.forms import NO_API_KEY, UsageFilterForm

CSV_COLUMNS = [
    "period_start",
    "period_end",
    "time_zone",
    "workspace",
    "api_key",
    "model",
    "service_tier",
    "context_window",
    "account_id",
    "account_name",
    "input_tokens",
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
    "code_execution_seconds",
    "requests",
    "rate_limited_requests",
    "rate_limited_by_requests",
    "rate_limited_by_input_tokens",
    "rate_limited_by_output_tokens",
]


DIMENSION_END = CSV_COLUMNS.index("input_tokens")


def _group_names(query, rows, labels: dict | None = None) -> Callable:
    """A function from a row's group value to the dimension cells it sets: from the page's
    ``labels`` where they serve, else read (one query)."""
    if query.group_by == "account":
        details = selectors.account_details(query.scope.org_id, (r["group"][0] for r in rows))

        def account(value):
            external_id, name = details.get(value, ("", ""))
            return {"account_id": external_id, "account_name": name or selectors.NO_ACCOUNT}

        return account
    if labels is None or query.group_by == "model":  # the CSV names a model by its id
        labels = selectors.dimension_labels(
            query.scope.org_id, query.group_dims, rows, for_csv=True
        )
    return lambda value: {query.group_by: labels[query.group_by].get(value, value)}


def _filter_names(form: UsageFilterForm) -> dict:
    data = form.cleaned_data
    key = data.get("api_key")
    if key == NO_API_KEY:
        key_name = "No API key"
    else:
        key_name = f"{key.name} ({key.external_id})" if key else "All API keys"
    workspace = data.get("workspace")
    account = data.get("account")
    return {
        "workspace": workspace.name if workspace else "All workspaces",
        "api_key": key_name,
        "model": data["model"].model_id if data.get("model") else "All models",
        "service_tier": "All service tiers",
        "context_window": "All context windows",
        "account_id": account.external_id if account else "",
        "account_name": account.name if account else "All users",
    }


def _bounds(periods) -> list[tuple[str, str]]:
    """Each period's local start and end as the CSV writes them (once per period, not per
    row: a minute holds a row per group)."""
    return [(p.local_start.isoformat(), p.local_end.isoformat()) for p in periods]


def _csv_row(bounds: tuple[str, str], dims: dict, c: dict, query) -> list:
    return [
        *bounds,
        query.zone.key,
        *(dims[d] for d in CSV_COLUMNS[3:DIMENSION_END]),
        c["input_tokens"],
        c["uncached_input_tokens"],
        c["cache_write_5m_tokens"],
        c["cache_write_1h_tokens"],
        c["cache_read_tokens"],
        c["output_tokens"],
        c["web_search_requests"],
        Decimal(c["code_execution_ms"]).scaleb(-3),  # seconds, to the millisecond
        c["requests"] if c["requests_known"] else selectors.REQUESTS_NOT_KNOWN,
        c["rate_limited_requests"],
        c["rate_limited_by_requests"],
        c["rate_limited_by_input_tokens"],
        c["rate_limited_by_output_tokens"],
    ]


def rows(form: UsageFilterForm, report: dict, query):
    """The export's rows: one per period (and group, when grouped), header first."""
    yield CSV_COLUMNS
    names = _filter_names(form)
    bounds = _bounds(report["periods"])
    if query.group_by:
        group_names = _group_names(query, report["rows"], report["labels"])
        for r in report["rows"]:
            dims = {**names, **group_names(r["group"][0])}
            yield _csv_row(bounds[r["period"]], dims, selectors.derived(r), query)
    else:
        for index, c in enumerate(report["per_period"]):
            yield _csv_row(bounds[index], names, c, query)


def _finer_periods(query, granularity: str):
    """The view's span at ``granularity``, in chunks of a local day (hours) or hour (minutes)."""
    level, periods = query.level_and_periods
    for period in periods:
        if level == "month":  # a local day
            hours = timeslice.hours_of_day(period.local_start.date(), query.zone)
        else:  # a local hour of the chosen day
            hours = [period]
        if granularity == "hour":
            yield hours
        else:  # an hour at a time: a chunk holds at most 60 minutes x groups rows
            for hour in hours:
                yield timeslice.minutes_of_hour(hour, query.zone)


def finer_rows(form: UsageFilterForm, query, granularity: str):
    """Rows finer than the bars shown (a month by minute can be millions), streamed a bar
    at a time so memory stays flat; they add up to the same totals as the page."""
    yield CSV_COLUMNS
    names = _filter_names(form)
    dims_of_query = query.group_dims
    cells: dict = {}  # group value -> its dimension cells, named once for the whole export
    for periods in _finer_periods(query, granularity):
        rows = selectors.usage_by_period(query.scope, periods, dims_of_query)
        if query.group_by:
            unnamed = [r for r in rows if r["group"][0] not in cells]
            if unnamed:  # one query for the groups this chunk is the first to show
                group_names = _group_names(query, unnamed)
                for r in unnamed:
                    value = r["group"][0]
                    cells[value] = {**names, **group_names(value)}
        bounds = _bounds(periods)
        for r in rows:
            dims = cells[r["group"][0]] if query.group_by else names
            yield _csv_row(bounds[r["period"]], dims, selectors.derived(r), query)


def filename(org, form: UsageFilterForm) -> str:
    """e.g. usage_acme_2026-11-02_1200_by-minute_wrkspc_01_per-model_UTC.csv"""
    params = form.url_params()
    parts = ["usage", org.slug, params.get("day", params["month"])]
    if "hour" in params:
        parts.append(params["hour"].replace(":", ""))
    by = {"month": "by-day", "day": "by-hour", "hour": "by-minute"}[_level(params)]
    granularity = form.cleaned_data.get("granularity")
    parts.append(f"by-{granularity}" if granularity else by)
    for key in ("workspace", "api_key", "model", "account"):
        if key in params:
            parts.append(params[key])
    if "group_by" in params:
        parts.append(f"per-{params['group_by']}")
    parts.append(params["tz"])
    return exports.filename(*parts)


def _level(params: dict) -> str:
    return "hour" if "hour" in params else "day" if "day" in params else "month"
