"""GET /v1/organizations/usage_report/messages against Anthropic's published reference.

What the reference says, and what each test below pins:
* ``starting_at`` is required (RFC 3339); buckets start on or after it, snapped to the start
  of the minute / hour / day in UTC; ``ending_at`` is exclusive: buckets that end before it.
* ``bucket_width`` is ``1d`` (default), ``1h`` or ``1m``; ``limit`` counts buckets, default
  and maximum 7/31 (1d), 24/168 (1h), 60/1440 (1m).
* ``page`` takes the previous answer's ``next_page``; the answer is
  ``{"data": [{"starting_at", "ending_at", "results"}], "has_more", "next_page"}`` with
  ``next_page`` null on the last page.
* Filters ``api_key_ids[]``, ``workspace_ids[]``, ``models[]``, ``service_tiers[]``
  (standard, batch, priority...), ``context_window[]`` (0-200k, 200k-1M); ``group_by[]`` any
  subset of api_key_id, workspace_id, model, service_tier, context_window, account_id
  (service_account_id, inference_geo and speed are in the reference but this server has no
  such data: 400 naming the value); ``account_ids[]`` filters by account.
* A result has ``uncached_input_tokens``, ``cache_creation`` {``ephemeral_1h_input_tokens``,
  ``ephemeral_5m_input_tokens``}, ``cache_read_input_tokens``, ``output_tokens``,
  ``server_tool_use`` {``web_search_requests``} and each dimension, null unless grouped;
  ``workspace_id`` null for the Default workspace, ``api_key_id`` null without a key.
* Errors: ``{"type": "error", "error": {"type": "invalid_request_error", "message"}}`` with
  400; a ``request-id`` header on every answer.
"""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.models import Account
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

URL = "/v1/organizations/usage_report/messages"
DIMENSIONS = (
    "api_key_id", "workspace_id", "model", "service_tier", "context_window", "account_id"
)  # fmt: skip


@pytest.fixture
def usage(org):
    """Two workspaces' worth of usage on 2026-11-03 and 2026-11-04 (UTC)."""
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    key = factories.make_api_key(org, research, "backend", "apikey_backend")
    default = series_for(org)  # Default workspace, no key
    keyed = series_for(org, workspace=research, api_key=key, model="claude-haiku-4-5")
    batch = series_for(org, workspace=research, api_key=key, service_tier="batch")
    store_and_roll_up(
        org,
        [
            raw(default, utc(2026, 11, 3, 10, 5, 7), uncached_input_tokens=100, output_tokens=10),
            raw(
                keyed,
                utc(2026, 11, 3, 10, 5, 40),
                uncached_input_tokens=1000,
                cache_write_5m_tokens=50,
                cache_write_1h_tokens=60,
                cache_read_tokens=70,
                output_tokens=20,
                web_search_requests=2,
            ),
            raw(batch, utc(2026, 11, 3, 23, 59, 59), uncached_input_tokens=5, output_tokens=1),
            raw(keyed, utc(2026, 11, 4, 0, 0), uncached_input_tokens=7, output_tokens=3),
        ],
    )
    return {"research": research, "key": key}


def _body(response):
    assert response.status_code == 200, response.content
    return response.json()


def _error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["request_id"] == response["request-id"]
    return body["error"]


def test_day_buckets_of_the_whole_organisation(api, usage):
    body = _body(api(URL, {"starting_at": "2026-11-03T00:00:00Z", "limit": "2"}))
    assert set(body) == {"data", "has_more", "next_page"}
    assert [b["starting_at"] for b in body["data"]] == [
        "2026-11-03T00:00:00Z",
        "2026-11-04T00:00:00Z",
    ]
    assert body["data"][0]["ending_at"] == "2026-11-04T00:00:00Z"
    first = body["data"][0]["results"]
    assert first == [
        {
            "uncached_input_tokens": 1105,
            "cache_creation": {"ephemeral_1h_input_tokens": 60, "ephemeral_5m_input_tokens": 50},
            "cache_read_input_tokens": 70,
            "output_tokens": 31,
            "server_tool_use": {"web_search_requests": 2},
            "api_key_id": None,
            "workspace_id": None,
            "model": None,
            "service_tier": None,
            "context_window": None,
            "account_id": None,
        }
    ]
    assert body["data"][1]["results"][0]["uncached_input_tokens"] == 7


def test_bucket_width_defaults_to_one_day_and_limit_to_seven(api, usage):
    body = _body(api(URL, {"starting_at": "2026-11-01T00:00:00Z"}))
    starts = [b["starting_at"] for b in body["data"]]
    assert starts == [f"2026-11-0{d}T00:00:00Z" for d in range(1, 8)]
    # Days without usage are still buckets, with no results.
    assert body["data"][0]["results"] == []


@pytest.mark.parametrize(
    ("width", "default", "maximum"), [("1d", 7, 31), ("1h", 24, 168), ("1m", 60, 1440)]
)
def test_limit_default_and_maximum_per_width(api, width, default, maximum):
    params = {"starting_at": "2020-01-01T00:00:00Z", "bucket_width": width}
    assert len(_body(api(URL, params))["data"]) == default
    assert len(_body(api(URL, {**params, "limit": str(maximum)}))["data"]) == maximum
    error = _error(api(URL, {**params, "limit": str(maximum + 1)}), 400)
    assert error["type"] == "invalid_request_error"
    assert "limit" in error["message"]
    assert "limit" in _error(api(URL, {**params, "limit": "0"}), 400)["message"]


def test_grouped_dimensions_are_set_and_the_rest_null(api, usage):
    params = {
        "starting_at": "2026-11-03T00:00:00Z",
        "ending_at": "2026-11-04T00:00:00Z",
        "group_by[]": list(DIMENSIONS),
    }
    results = _body(api(URL, params))["data"][0]["results"]
    assert [
        (r["workspace_id"], r["api_key_id"], r["model"], r["service_tier"]) for r in results
    ] == [
        (None, None, "claude-sonnet-4-5-20250929", "standard"),  # Default workspace, no key
        ("wrkspc_research", "apikey_backend", "claude-haiku-4-5", "standard"),
        ("wrkspc_research", "apikey_backend", "claude-sonnet-4-5-20250929", "batch"),
    ]
    assert {r["context_window"] for r in results} == {"0-200k"}

    by_model = _body(api(URL, {**params, "group_by[]": "model"}))["data"][0]["results"]
    assert {r["model"]: r["uncached_input_tokens"] for r in by_model} == {
        "claude-haiku-4-5": 1000,
        "claude-sonnet-4-5-20250929": 105,
    }
    assert all(r[d] is None for r in by_model for d in DIMENSIONS if d != "model")


def test_filters_narrow_the_usage(api, usage):
    base = {"starting_at": "2026-11-03T00:00:00Z", "ending_at": "2026-11-04T00:00:00Z"}

    def total(**filters):
        results = _body(api(URL, {**base, **filters}))["data"][0]["results"]
        return sum(r["uncached_input_tokens"] for r in results)

    assert total(**{"workspace_ids[]": "wrkspc_research"}) == 1005
    assert total(**{"api_key_ids[]": "apikey_backend", "service_tiers[]": "batch"}) == 5
    assert total(**{"models[]": ["claude-haiku-4-5", "claude-sonnet-4-5-20250929"]}) == 1105
    assert total(**{"context_window[]": "200k-1M"}) == 0
    assert total(**{"workspace_ids[]": "wrkspc_nobody"}) == 0


@pytest.mark.parametrize(
    "query",
    [
        "group_by[]=model&group_by[]=service_tier",
        "group_by[0]=model&group_by[1]=service_tier",
        "group_by=model&group_by=service_tier",
    ],
)
def test_arrays_in_each_of_the_three_forms(api, usage, query):
    response = api(f"{URL}?starting_at=2026-11-03T00:00:00Z&limit=1&{query}")
    results = _body(response)["data"][0]["results"]
    assert sorted((r["model"], r["service_tier"]) for r in results) == [
        ("claude-haiku-4-5", "standard"),
        ("claude-sonnet-4-5-20250929", "batch"),
        ("claude-sonnet-4-5-20250929", "standard"),
    ]


def test_buckets_snap_to_utc_and_ending_at_is_exclusive(api, usage):
    # An unaligned start snaps down to its minute; an unaligned end leaves out the minute
    # it falls in (that bucket does not end before it).
    params = {
        "starting_at": "2026-11-03T10:05:30.250+00:00",
        "ending_at": "2026-11-03T10:07:15Z",
        "bucket_width": "1m",
    }
    data = _body(api(URL, params))["data"]
    assert [b["starting_at"] for b in data] == ["2026-11-03T10:05:00Z", "2026-11-03T10:06:00Z"]
    assert data[0]["results"][0]["uncached_input_tokens"] == 1100
    # An offset is read as the instant it names: 11:05+01:00 is 10:05 UTC.
    shifted = _body(api(URL, {**params, "starting_at": "2026-11-03T11:05:00+01:00"}))["data"]
    assert shifted[0]["starting_at"] == "2026-11-03T10:05:00Z"
    # ending_at on a boundary: the bucket starting there is not included.
    hours = _body(
        api(
            URL,
            {
                "starting_at": "2026-11-03T23:00:00Z",
                "ending_at": "2026-11-04T00:00:00Z",
                "bucket_width": "1h",
            },
        )
    )
    assert [b["starting_at"] for b in hours["data"]] == ["2026-11-03T23:00:00Z"]
    assert hours["data"][0]["results"][0]["uncached_input_tokens"] == 5
    assert hours["has_more"] is False
    assert hours["next_page"] is None


def test_paging_walks_every_bucket_and_the_cursor_survives_new_data(api, org, usage):
    params = {
        "starting_at": "2026-11-03T00:00:00Z",
        "ending_at": "2026-11-04T00:00:00Z",
        "bucket_width": "1h",
        "limit": "10",
    }
    first = _body(api(URL, params))
    assert first["has_more"] is True
    assert first["next_page"].startswith("page_")
    # New usage lands (late) inside the hours of the next page before it is read.
    store_and_roll_up(org, [raw(series_for(org), utc(2026, 11, 3, 12, 30), output_tokens=9)])
    second = _body(api(URL, {**params, "page": first["next_page"]}))
    third = _body(api(URL, {**params, "page": second["next_page"]}))
    assert third["has_more"] is False
    assert third["next_page"] is None
    starts = [b["starting_at"] for page in (first, second, third) for b in page["data"]]
    assert starts == [f"2026-11-03T{h:02d}:00:00Z" for h in range(24)]
    noon = second["data"][2]
    assert noon["starting_at"] == "2026-11-03T12:00:00Z"
    assert noon["results"][0]["output_tokens"] == 9


def test_a_page_token_snaps_to_the_width_asked_for(api, usage):
    params = {"starting_at": "2026-11-03T00:00:00Z", "bucket_width": "1m", "limit": "1"}
    first = _body(api(URL, params))
    # The token names 00:01; read with hours, the page is the hour containing it.
    hours = _body(api(URL, {**params, "bucket_width": "1h", "page": first["next_page"]}))
    assert hours["data"][0]["starting_at"] == "2026-11-03T00:00:00Z"


def test_without_ending_at_buckets_run_to_the_current_one(api):
    now = dt.datetime.now(dt.UTC)
    start = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:00:00Z")
    data = _body(api(URL, {"starting_at": start, "bucket_width": "1h"}))
    assert len(data["data"]) == 3
    assert data["has_more"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "starting_at"),
        ({"starting_at": "yesterday"}, "starting_at"),
        ({"starting_at": "2026-11-03T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z"}, "ending_at"),
        ({"starting_at": "2026-11-03T00:00:00Z", "bucket_width": "1w"}, "bucket_width"),
        ({"starting_at": "2026-11-03T00:00:00Z", "limit": "ten"}, "limit"),
        ({"starting_at": "2026-11-03T00:00:00Z", "group_by[]": "region"}, "group_by"),
        ({"starting_at": "2026-11-03T00:00:00Z", "service_tiers[]": "gold"}, "service_tiers"),
        ({"starting_at": "2026-11-03T00:00:00Z", "context_window[]": "1M"}, "context_window"),
        ({"starting_at": "2026-11-03T00:00:00Z", "page": "page_bm9wZQ=="}, "page"),
        ({"starting_at": "2026-11-03T00:00:00Z", "page": "42"}, "page"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(api, params, field):
    error = _error(api(URL, params), 400)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(field)


@pytest.mark.parametrize(
    "params",
    [
        {"group_by[]": "service_account_id"},
        {"group_by[]": "inference_geo"},
        {"speeds[]": "fast"},
    ],
)
def test_missing_dimensions_are_refused_not_faked(api, usage, params):
    error = _error(api(URL, {"starting_at": "2026-11-03T00:00:00Z", **params}), 400)
    assert "not supported by this server" in error["message"]


def test_grouped_and_filtered_by_account(api, org, usage):
    ada = Account.objects.create(org=org, external_id="user_01ada", name="ada@acme.test")
    bob = Account.objects.create(org=org, external_id="user_02bob", name="bob@acme.test")
    rows = [
        raw(series_for(org, account=ada), utc(2026, 11, 3, 9), uncached_input_tokens=300),
        raw(series_for(org, account=ada), utc(2026, 11, 3, 11), output_tokens=40),
        raw(series_for(org, account=bob), utc(2026, 11, 3, 12), uncached_input_tokens=7),
    ]
    store_and_roll_up(org, rows)
    day = {"starting_at": "2026-11-03T00:00:00Z", "limit": "1"}
    results = _body(api(URL, {**day, "group_by[]": "account_id"}))["data"][0]["results"]
    by_account = {r["account_id"]: r for r in results}
    # usage's fixture rows have no account: they are the null group, as without a key
    assert set(by_account) == {None, "user_01ada", "user_02bob"}
    want = {"user_01ada": (300, 40), "user_02bob": (7, 0)}
    for account, (uncached, output) in want.items():
        assert by_account[account]["uncached_input_tokens"] == uncached
        assert by_account[account]["output_tokens"] == output
    only_ada = _body(api(URL, {**day, "account_ids[]": "user_01ada"}))["data"][0]["results"]
    assert [(r["uncached_input_tokens"], r["output_tokens"]) for r in only_ada] == [(300, 40)]
    assert only_ada[0]["account_id"] is None  # filtered, not grouped


def test_usage_of_another_organisation_is_never_counted(api, usage, other_org):
    store_and_roll_up(
        other_org,
        [raw(series_for(other_org), utc(2026, 11, 3, 10), uncached_input_tokens=999_999)],
    )
    results = _body(api(URL, {"starting_at": "2026-11-03T00:00:00Z", "limit": "1"}))["data"][0]
    assert results["results"][0]["uncached_input_tokens"] == 1105


def test_every_answer_has_a_request_id(api):
    ok = api(URL, {"starting_at": "2026-11-03T00:00:00Z"})
    bad = api(URL, {})
    assert ok["request-id"].startswith("req_")
    assert bad["request-id"].startswith("req_")
    assert ok["request-id"] != bad["request-id"]


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_keys = st.sampled_from(
    [
        "starting_at",
        "ending_at",
        "bucket_width",
        "limit",
        "page",
        "group_by[]",
        "group_by[0]",
        "group_by",
        "models[]",
        "service_tiers[]",
        "context_window[]",
        "workspace_ids[5]",
        "account_ids[]",
        "starting_at[]",
    ]
)
_values = st.one_of(
    _text,
    st.sampled_from(["1d", "1h", "1m", "0", "-1", "1441", "model", "standard", "0-200k"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers().map(str),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(_keys, _values), max_size=6))
def test_no_query_string_gets_a_500(api, pairs):
    response = api(URL, {"starting_at": "2026-11-03T00:00:00Z"} | dict(pairs))
    assert response.status_code in (200, 400), response.content
    body = response.json()
    assert ("data" in body) if response.status_code == 200 else (body["type"] == "error")


def test_a_page_costs_a_fixed_number_of_queries(api, usage, django_assert_num_queries):
    params = {
        "starting_at": "2026-11-03T00:00:00Z",
        "bucket_width": "1m",
        "limit": "1440",
        "group_by[]": list(DIMENSIONS),
    }
    # The key (1), its last use (0: noted this minute already), the buckets (1), and the
    # names of the four dimensions grouped by our ids (keys, workspaces, models, accounts).
    api(URL, params)
    with django_assert_num_queries(6):
        assert api(URL, params).status_code == 200


@pytest.mark.parametrize("width,limit", [("1h", "24"), ("1m", "1440")])
def test_hours_and_minutes_by_account_come_from_raw_rows_of_rolled_up_batches(
    api, org, usage, width, limit
):
    """Finer than a day, the account breakdown is read from raw logs (the buckets of those
    widths hold no accounts); a batch not yet rolled up counts nowhere, as in the buckets."""
    from tests.usage.rawrows import store_batch

    ada = Account.objects.create(org=org, external_id="user_01ada", name="ada@acme.test")
    bob = Account.objects.create(org=org, external_id="user_02bob", name="bob@acme.test")
    rows = [
        raw(series_for(org, account=ada), utc(2026, 11, 3, 9, 0, 59), uncached_input_tokens=300),
        raw(series_for(org, account=ada), utc(2026, 11, 3, 9, 1), output_tokens=40),
        raw(series_for(org, account=bob), utc(2026, 11, 3, 23, 59, 59), cache_read_tokens=7),
    ]
    store_and_roll_up(org, rows)
    store_batch(org, [raw(series_for(org, account=ada), utc(2026, 11, 3, 9), output_tokens=5)])
    day = {"starting_at": "2026-11-03T00:00:00Z", "bucket_width": width, "limit": limit}

    def sums(results):
        return [(r["uncached_input_tokens"], r["cache_read_input_tokens"], r["output_tokens"])
                for r in results]  # fmt: skip

    grouped = _body(api(URL, {**day, "group_by[]": "account_id"}))["data"]
    only_ada = _body(api(URL, {**day, "account_ids[]": "user_01ada"}))["data"]
    everyone = _body(api(URL, day))["data"]
    for rows_of_bucket in (grouped, only_ada, everyone):
        assert len(rows_of_bucket) == int(limit)
    want: dict = {}  # (bucket start, account) -> (uncached, read, output), from the raw rows
    for r in rows:
        moment = r.timestamp.replace(second=0)
        start = moment if width == "1m" else moment.replace(minute=0)
        account = r.series.account.external_id
        a, b, c = want.get((start, account), (0, 0, 0))
        want[(start, account)] = (
            a + r.uncached_input_tokens, b + r.cache_read_tokens, c + r.output_tokens
        )  # fmt: skip
    got = {
        (dt.datetime.fromisoformat(bucket["starting_at"]), result["account_id"]): sums([result])[0]
        for bucket in grouped
        for result in bucket["results"]
        if result["account_id"] is not None
    }
    assert got == want
    got_ada = {
        dt.datetime.fromisoformat(bucket["starting_at"]): sums(bucket["results"])[0]
        for bucket in only_ada
        if bucket["results"]
    }
    assert got_ada == {start: v for (start, account), v in want.items() if account == "user_01ada"}
    # Without the account dimension, the base buckets: the same totals, accounts and all.
    for by_account, total in zip(grouped, everyone, strict=True):
        added = [sum(v) for v in zip(*sums(by_account["results"]), strict=False)] or [0, 0, 0]
        assert tuple(added) == tuple(
            sum(v) for v in zip(*(sums(total["results"]) or [(0, 0, 0)]), strict=True)
        )


def test_minutes_past_their_retention_are_refused_not_answered_as_zeros(api, org):
    from django.test import override_settings
    from django.utils import timezone

    old = timezone.now() - dt.timedelta(days=60)
    store_and_roll_up(org, [raw(series_for(org), old, uncached_input_tokens=7)])
    start = old.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:00:00Z")
    with override_settings(MINUTE_RETENTION_DAYS=35):
        error = _error(api(URL, {"starting_at": start, "bucket_width": "1m"}), 400)
        assert "1m buckets are kept for 35 days" in error["message"]
        # The same hour by the hour is still there, from hour buckets.
        hours = _body(api(URL, {"starting_at": start, "bucket_width": "1h", "limit": "1"}))
        assert hours["data"][0]["results"][0]["uncached_input_tokens"] == 7
        # By account, minutes come from raw logs (kept RAW_RETENTION_DAYS): still answered.
        by_account = {"starting_at": start, "bucket_width": "1m", "group_by[]": "account_id"}
        assert api(URL, by_account).status_code == 200
