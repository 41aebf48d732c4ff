import datetime as dt
import html as html_module
import json
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role, User
from console import charts
from tests import factories
from tests.usage.rawrows import raw, series_for, store_batch
from usage.ingest.contract import check_record
from usage.models import RateLimit
from usage.rollups import COUNT_COLUMNS, rollup_pending

PAGE = reverse("usage:page")
EXPORT = reverse("usage:export")
HX = {"HTTP_HX_REQUEST": "true"}
UTC = dt.UTC


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def u(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def world(org):
    """Usage in November 2026 in two workspaces, with and without keys, some 429s."""
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    key = factories.make_api_key(org, research, "prod", "apikey_prod")
    other_key = factories.make_api_key(org, name="ci", external_id="apikey_ci")
    series = [
        series_for(org, workspace=research, api_key=key),
        series_for(org, api_key=other_key, model="claude-haiku-4-5-20251001"),
        series_for(org, service_tier="batch"),
    ]
    rows = []
    for day in range(1, 31, 3):
        for hour in (0, 5, 18, 23):
            for i, s in enumerate(series):
                rows.append(
                    raw(
                        s,
                        u(2026, 11, day, hour, 10 + i, 7),
                        uncached_input_tokens=100 * day + i,
                        cache_write_5m_tokens=10 * hour,
                        cache_read_tokens=1000 + hour,
                        output_tokens=day + hour,
                        web_search_requests=i,
                        status_code=429 if hour == 5 and i == 0 else 200,
                        rate_limit_type="input_tokens" if hour == 5 and i == 0 else "",
                    )
                )
    store_batch(org, rows)
    rollup_pending()
    return {"rows": rows, "research": research, "key": key, "other_key": other_key}


def member(org, role=Role.DEVELOPER):
    return factories.make_member(org, role)


def totals_on_page(html: str) -> dict:
    return {
        name: int(value.replace(",", ""))
        for name, value in re.findall(r'data-total="(\w+)">([\d,]+)<', html)
    }


def raw_totals(rows, start, end, keep=lambda s: True):
    t = Counter()
    for r in rows:
        if start <= r.timestamp < end and keep(r.series):
            t["requests"] += 1
            t["rate_limited_requests"] += r.status_code == 429
            for col in COUNT_COLUMNS:
                t[col] += getattr(r, col)
    t["cache_write_tokens"] = t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"]
    t["input_tokens"] = (
        t["uncached_input_tokens"] + t["cache_write_tokens"] + t["cache_read_tokens"]
    )
    return t


# --- access ---------------------------------------------------------------------------

URLS = [
    (PAGE, {}),
    (PAGE, HX),
    (PAGE + "?month=2026-11&day=2026-11-04&part=limits", HX),
    (PAGE + "?month=2026-11&part=rate_limited", HX),
    (EXPORT + "?month=2026-11", {}),
]


@pytest.mark.parametrize("url,headers", URLS)
def test_anonymous_goes_to_login(client, world, url, headers):
    response = client.get(url, **headers)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", [Role.USER, Role.CLAUDE_CODE_USER])
@pytest.mark.parametrize("url,headers", URLS)
def test_roles_without_reports_get_403(client, org, world, role, url, headers):
    client.force_login(member(org, role))
    assert client.get(url, **headers).status_code == 403


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.BILLING, Role.ADMIN])
@pytest.mark.parametrize("url,headers", URLS)
def test_report_roles_get_200(client, org, world, role, url, headers):
    client.force_login(member(org, role))
    response = client.get(url, **headers)
    assert response.status_code == 200


@pytest.mark.parametrize("url", [PAGE, EXPORT])
@pytest.mark.parametrize(
    "query",
    [
        "workspace=wrkspc_globex",
        "api_key=apikey_globex",
        "workspace=wrkspc_nowhere",
        "model=gpt-4",  # well formed, and no usage of it here: as a workspace of no one
    ],
)
def test_another_organisations_workspace_or_key_is_404(client, org, other_org, world, url, query):
    globex_ws = factories.make_workspace(other_org, "Theirs", "wrkspc_globex")
    factories.make_api_key(other_org, globex_ws, "theirs", "apikey_globex")
    client.force_login(member(org))
    assert client.get(f"{url}?{query}").status_code == 404
    assert client.get(f"{url}?{query}", **HX).status_code == 404


# --- bad input ------------------------------------------------------------------------


def test_a_bad_filter_keeps_the_zone_and_names_the_default_workspace_once(client, org, world):
    user = member(org)
    user.time_zone = "Asia/Kolkata"
    user.save()
    client.force_login(user)
    page = client.get(f"{PAGE}?month=2026-13").content.decode()
    assert '<option value="Asia/Kolkata" selected>' in page  # not the list's first zone
    assert "Default (Default)" not in page


@pytest.mark.parametrize(
    "query,message",
    [
        ("month=2026-13", "is not a month"),
        ("month=26-1", "is not a month"),
        ("month=1800-01", "out of range"),
        ("day=2026-02-30", "Enter a valid date"),
        ("month=2026-11&day=2026-12-01", "is not in the chosen month"),
        ("hour=03", "Choose a day"),
        ("month=2026-03&day=2026-03-08&hour=02:00&tz=America/New_York", "has no hour"),
        ("month=2011-12&day=2011-12-30&tz=Pacific/Apia", "never happened"),  # skipped day
        ("tz=Mars/Olympus", "is not an IANA time zone"),
        ("tz=../../etc/passwd", "is not an IANA time zone"),
        ("group_by=colour", "Select a valid choice"),
        ("sort=password", "Select a valid choice"),
        ("model=" + "x" * 129, "at most 128 characters"),
        ("workspace=%3Cscript%3E", "is not a workspace id"),
        ("workspace=default&api_key=apikey_prod", "is not in the workspace"),
        ("rl_page=0", "greater than or equal to 1"),
    ],
)
def test_bad_filters_get_a_readable_400(client, org, world, query, message):
    client.force_login(member(org))
    for headers in ({}, HX):
        response = client.get(f"{PAGE}?{query}", **headers)
        assert response.status_code == 400
        assert message in response.content.decode()
    assert client.get(f"{EXPORT}?{query}").status_code == 400


# --- what the page shows --------------------------------------------------------------


def test_month_totals_equal_raw_rows_and_chart_has_every_day(client, org, world):
    client.force_login(member(org))
    response = client.get(f"{PAGE}?month=2026-11")
    html = response.content.decode()
    want = raw_totals(world["rows"], u(2026, 11, 1), u(2026, 12, 1))
    got = totals_on_page(html)
    for name in ["input_tokens", "uncached_input_tokens", "cache_write_tokens"]:
        assert got[name] == want[name]
    assert got["output_tokens"] == want["output_tokens"]
    assert got["requests"] == want["requests"] and got["rate_limited_requests"] > 0
    chart = response.context["chart"]
    x = chart["data"][0]["x"]
    assert len(x) == 30 and x[0] == "Nov 1"
    assert sum(sum(t["y"]) for t in chart["data"]) == want["input_tokens"] + want["output_tokens"]
    assert chart["drills"][3] == f"{PAGE}?month=2026-11&day=2026-11-04&tz=UTC"
    assert 'data-drill-index="3"' in html


def test_filters_narrow_the_totals(client, org, world):
    client.force_login(member(org))
    cases = [
        ("workspace=wrkspc_research", lambda s: s.workspace_id == world["research"].id),
        ("workspace=default", lambda s: s.workspace.is_default),
        ("api_key=none", lambda s: s.api_key_id is None),
        ("api_key=apikey_ci", lambda s: s.api_key_id == world["other_key"].id),
        ("model=claude-haiku-4-5-20251001", lambda s: s.model.model_id.startswith("claude-haiku")),
        ("workspace=default&api_key=none", lambda s: s.workspace.is_default and not s.api_key_id),
    ]
    for query, keep in cases:
        html = client.get(f"{PAGE}?month=2026-11&{query}").content.decode()
        want = raw_totals(world["rows"], u(2026, 11, 1), u(2026, 12, 1), keep)
        assert totals_on_page(html)["requests"] == want["requests"] > 0, query
        assert totals_on_page(html)["input_tokens"] == want["input_tokens"], query


def test_day_and_hour_drill_in_a_half_hour_zone(client, org, world):
    client.force_login(member(org))
    zone = ZoneInfo("Asia/Kolkata")
    response = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&tz=Asia/Kolkata")
    start = dt.datetime(2026, 11, 4, tzinfo=zone)
    want = raw_totals(world["rows"], start, start + dt.timedelta(days=1))
    assert totals_on_page(response.content.decode())["requests"] == want["requests"] > 0
    assert len(response.context["chart"]["data"][0]["x"]) == 24
    hour = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&hour=05&tz=Asia/Kolkata")
    # 05:00 IST is 23:30 UTC the day before: the 23:10 rows are in it.
    hstart = dt.datetime(2026, 11, 4, 5, tzinfo=zone)
    want = raw_totals(world["rows"], hstart, hstart + dt.timedelta(hours=1))
    assert totals_on_page(hour.content.decode())["requests"] == want["requests"] == 3
    assert len(hour.context["chart"]["data"][0]["x"]) == 60
    crumbs = [c["label"] for c in hour.context["links"]["crumbs"]]
    assert crumbs == ["2026-11", "2026-11-04", "05:00"]


def test_previous_period_change(client, org, world):
    client.force_login(member(org))
    response = client.get(f"{PAGE}?month=2026-11&day=2026-11-05")
    report = response.context["report"]
    assert report["previous"]["start"] == u(2026, 11, 4)
    want = raw_totals(world["rows"], u(2026, 11, 4), u(2026, 11, 5))
    assert report["previous"]["totals"]["requests"] == want["requests"] > 0
    assert report["changes"]["requests"] == -1.0  # nothing on the 5th
    assert response.context["changes"]["requests"] == "-100.0%"


def test_early_in_the_month_compares_with_the_same_span_of_the_last(
    client, org, world, monkeypatch
):
    from django.utils import timezone

    now = u(2026, 12, 2, 5, 16, 30)  # the 2nd, early: one day and a bit of December
    s = series_for(org, service_tier="batch")
    extra = [
        raw(s, u(2026, 11, 2, 5, 15, 59), output_tokens=1_000, uncached_input_tokens=7),
        raw(s, u(2026, 11, 2, 5, 16, 0), output_tokens=50_000),  # after the same minute
        raw(s, u(2026, 11, 2, 18), output_tokens=90_000),
        raw(s, u(2026, 12, 1, 9), output_tokens=700, uncached_input_tokens=20_000),
        raw(s, u(2026, 12, 2, 4, 59), output_tokens=300, web_search_requests=2),
    ]
    store_batch(org, extra)
    rollup_pending(org_id=org.id)
    rows = world["rows"] + extra
    monkeypatch.setattr(timezone, "now", lambda: now)
    client.force_login(member(org))
    response = client.get(f"{PAGE}?tz=UTC")
    report = response.context["report"]
    current = raw_totals(rows, u(2026, 12, 1), now)
    previous = raw_totals(rows, u(2026, 11, 1), u(2026, 11, 2, 5, 16))
    assert report["previous"]["totals"]["output_tokens"] == previous["output_tokens"] > 0
    for figure in ("input_tokens", "output_tokens", "requests"):
        want = (current[figure] - previous[figure]) / previous[figure]
        assert report["changes"][figure] == pytest.approx(want)
        assert response.context["changes"][figure] == f"{want * 100:+.1f}%"
    body = response.content.decode()
    assert f"{response.context['changes']['requests']} vs Nov 1–2, to 05:16" in body
    whole = raw_totals(rows, u(2026, 11, 1), u(2026, 12, 1))  # not against all of November
    assert report["changes"]["output_tokens"] != pytest.approx(
        (current["output_tokens"] - whole["output_tokens"]) / whole["output_tokens"]
    )
    # The 29 days still to come are drawn as such, not as zero bars, and open nothing.
    figure = response.context["chart"]
    assert all(y is None for trace in figure["data"] for y in trace["y"][2:])
    assert all(trace["y"][1] is not None for trace in figure["data"])
    assert figure["drills"][2:] == [None] * 29 and figure["drills"][1]
    assert figure["layout"]["annotations"][0]["text"] == "Still to come"
    assert body.count("still to come</td>") == 29
    # A whole past month compares with the whole month before it.
    november = client.get(f"{PAGE}?month=2026-11&tz=UTC").context["report"]
    october = raw_totals(rows, u(2026, 10, 1), u(2026, 11, 1))
    assert november["previous"]["label"] == "Oct 1–31"
    assert november["previous"]["totals"]["requests"] == october["requests"]
    assert not any(november["future"])


def test_group_by_splits_bars_and_the_breakdown_sorts(client, org, world):
    client.force_login(member(org))
    response = client.get(f"{PAGE}?month=2026-11&group_by=api_key&sort=group")
    groups = response.context["report"]["groups"]
    assert [g["label"] for g in groups] == ["ci (apikey_ci)", "No API key", "prod (apikey_prod)"]
    traces = response.context["chart"]["data"]
    assert len(traces) == 3
    total = response.context["report"]["totals"]
    assert sum(sum(t["y"]) for t in traces) == total["input_tokens"] + total["output_tokens"]
    by_requests = client.get(f"{PAGE}?month=2026-11&group_by=api_key&sort=-uncached_input_tokens")
    values = [g["uncached_input_tokens"] for g in by_requests.context["report"]["groups"]]
    assert values == sorted(values, reverse=True)
    for dim in ["model", "workspace", "service_tier", "context_window"]:
        r = client.get(f"{PAGE}?month=2026-11&group_by={dim}")
        assert r.status_code == 200
        assert sum(g["requests"] for g in r.context["report"]["groups"]) == total["requests"]


def test_htmx_gets_the_partial_with_a_canonical_url_to_push(client, org, world):
    client.force_login(member(org))
    response = client.get(f"{PAGE}?workspace=&model=&month=2026-11&day=&group_by=model", **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="usage-content">')
    assert "<html" not in html
    assert response["HX-Push-Url"] == f"{PAGE}?month=2026-11&group_by=model&tz=UTC"
    assert "HX-Request" in response["Vary"]
    # A history restore (Back after the cache was lost) gets the whole page.
    full = client.get(
        f"{PAGE}?month=2026-11", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in full.content.decode()


def test_every_link_works_without_javascript(client, org, world):
    client.force_login(member(org))
    html = client.get(f"{PAGE}?month=2026-11&group_by=model").content.decode()
    for tag in re.findall(r"<a [^>]*hx-get=[^>]*>", html):
        href = re.search(r'href="([^"]+)"', tag).group(1)
        hx = re.search(r'hx-get="([^"]+)"', tag).group(1)
        assert href.split("#")[0] == hx
        assert client.get(href.replace("&amp;", "&")).status_code == 200
    assert 'method="get" action="/usage/"' in html


def test_a_zone_in_a_link_shows_the_view_in_it_and_saves_nothing(client, org, world):
    user = member(org)
    client.force_login(user)
    for headers in ({}, HX):
        response = client.get(f"{PAGE}?month=2026-11&tz=Asia/Kathmandu", **headers)
        assert response.context["query"].zone.key == "Asia/Kathmandu"
    assert User.objects.get(pk=user.pk).time_zone == "UTC"
    assert client.get(f"{PAGE}?month=2026-11").context["query"].zone.key == "UTC"


def test_month_defaults_to_the_current_month_in_the_zone(client, org, world, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: u(2026, 11, 30, 20))
    client.force_login(member(org))
    assert client.get(PAGE).context["selected"]["month"] == "2026-11"
    assert client.get(f"{PAGE}?tz=Asia/Tokyo").context["selected"]["month"] == "2026-12"


def test_links_from_workspaces_and_api_keys_pages(client, org, world):
    client.force_login(member(org))
    for query in [
        "workspace=default",
        "workspace=wrkspc_research&api_key=apikey_prod",
        "workspace=default&api_key=none",
        "api_key=none",
    ]:
        assert client.get(f"{PAGE}?month=2026-11&{query}").status_code == 200, query


def test_rate_limit_use_is_for_days_and_hours(client, org, world):
    RateLimit.objects.create(org=org, model=factories.make_model(), input_tokens_per_minute=5000)
    client.force_login(member(org))
    month = client.get(f"{PAGE}?month=2026-11&part=limits", **HX)
    assert "shown for a day or an hour" in month.content.decode()
    # Partials render without the test client's context capture: read the full page.
    day = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&part=limits")
    rows = day.context["limits"]["rows"]
    sonnet = [r for r in rows if r["model"] == "claude-sonnet-4-5-20250929"]
    assert {r["period_label"] for r in sonnet} == {"00:00", "05:00", "18:00", "23:00"}
    assert all(r["input_limit"] == 5000 for r in sonnet)
    partial = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&part=limits", **HX)
    assert partial.content.decode().lstrip().startswith('<div id="limits"')
    assert "5,000" in partial.content.decode()
    hour = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&hour=18&part=limits")
    assert {r["period_label"] for r in hour.context["limits"]["rows"]} == {"18:00"}
    # The chart is each model's use as a share of its limit; the long table is folded.
    html = partial.content.decode()
    assert 'id="limits-chart"' in html and '<details class="folded">' in html


def test_rate_limit_use_without_limits_says_so_instead_of_an_empty_chart(client, org, world):
    client.force_login(member(org))
    html = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&part=limits", **HX).content.decode()
    assert 'id="limits-chart"' not in html
    assert "No rate limits are set for these models" in html
    assert "Peaks and limits by hour and model" in html  # the peaks are still there


def test_rate_limited_requests_list_and_pages(client, org, world):
    client.force_login(member(org))
    response = client.get(f"{PAGE}?month=2026-11&part=rate_limited", **HX)
    html = response.content.decode()
    limited = [r for r in world["rows"] if r.status_code == 429]
    assert html.count("<code>req_") == len(limited) == 10
    assert "Input tokens" in html
    assert client.get(f"{PAGE}?month=2026-11&part=rate_limited&rl_page=2", **HX).status_code == 200


def test_empty_month_tells_an_admin_how_to_send_logs(client, org):
    admin = member(org, Role.ADMIN)
    developer = member(org)
    client.force_login(admin)
    html = client.get(f"{PAGE}?month=2025-01").content.decode()
    assert 'data-testid="empty"' in html and "/settings/ingest-keys/" in html
    assert "README" not in html  # said in the page instead
    url = re.search(r'<code class="block" id="ingest-url" data-testid="ingest-url">([^<]+)<', html)
    assert url.group(1) == "http://testserver/api/v1/logs"  # this installation's, as requested
    assert "curl -X POST http://testserver/api/v1/logs" in html
    assert f"python manage.py import_logs batch.jsonl --org {org.slug}" in html
    example = re.search(
        r'id="example-record" data-testid="example-record"><code>(.*?)</code>', html
    )
    record = html_module.unescape(example.group(1))
    checked = check_record(record.encode(), latest=dt.datetime.now(UTC))  # the contract's check
    assert checked.request_id == "req_example_0001"
    assert 'data-copy="#example-record"' in html and 'data-copy="#ingest-url"' in html
    # What the record says arrives: posted with a real ingest key, it is stored as one request.
    from usage.ingest.keys import create_ingest_key
    from usage.models import RequestLog

    _key, secret = create_ingest_key(org, "gateway")
    response = client.generic(
        "POST",
        url.group(1).removeprefix("http://testserver"),
        record,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code in (200, 202), response.content
    assert RequestLog.objects.filter(org=org).count() == 1
    client.force_login(developer)
    html = client.get(f"{PAGE}?month=2025-01").content.decode()
    assert 'data-testid="empty"' in html and "/settings/ingest-keys/" not in html


def test_plotly_is_served_locally(client, org, world):
    client.force_login(member(org))
    html = client.get(PAGE).content.decode()
    src = re.search(r'<script src="([^"]*plotly[^"]*)"', html).group(1)
    assert src.startswith("/static/")
    from django.contrib.staticfiles import finders

    assert finders.find(src.removeprefix("/static/"))
    assert finders.find("console/charts.js")


def _page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "query",
    [
        "month=2026-11&group_by=api_key",
        "month=2026-11&tz=Asia/Kathmandu",
        "month=2026-11&day=2026-11-04&group_by=model",
        "month=2026-11&day=2026-11-04&hour=18",
        "month=2026-11&day=2026-11-04&part=limits",
        "month=2026-11&part=rate_limited",
    ],
)
def test_page_queries_do_not_grow_with_rows_or_keys(client, org, world, query, settings):
    # The report computed on every view (a kept one reads no bucket: tests/usage/test_kept.py).
    settings.REPORT_CACHE_SECONDS = 0
    client.force_login(member(org))
    url = f"{PAGE}?{query}"
    _page_queries(client, url)  # the session and user are loaded alike from now on
    before = _page_queries(client, url)
    assert before <= 16
    research = world["research"]
    more = []
    for i in range(25):
        key = factories.make_api_key(org, research, f"k{i}")
        s = series_for(org, workspace=research, api_key=key, model=f"claude-test-{i % 4}")
        for day in range(1, 30):
            more.append(raw(s, u(2026, 11, day, 18, i), output_tokens=i, status_code=429))
    store_batch(org, more)
    rollup_pending()
    assert _page_queries(client, url) == before
    assert _page_queries(client, f"{EXPORT}?{query}") <= before


def test_chart_json_is_valid_json_in_the_page(client, org, world):
    client.force_login(member(org))
    html = client.get(f"{PAGE}?month=2026-11").content.decode()
    data = re.search(r'<script id="usage-chart-data" type="application/json">(.*?)</script>', html)
    assert len(json.loads(data.group(1))["data"][0]["x"]) == 30  # the days of November


def test_chart_json_is_the_chart_and_cannot_close_its_script_tag(client, org, world):
    evil = factories.make_api_key(org, name="</script><b>x&y", external_id="apikey_evil")
    store_batch(org, [raw(series_for(org, api_key=evil), u(2026, 11, 2, 3), output_tokens=5)])
    rollup_pending()
    client.force_login(member(org))
    response = client.get(f"{PAGE}?month=2026-11&group_by=api_key")
    html = response.content.decode()
    data = re.search(r'<script id="usage-chart-data" type="application/json">(.*?)</script>', html)
    assert "<" not in data.group(1) and "&" not in data.group(1)
    assert json.loads(data.group(1)) == response.context["chart"]
    names = [t["name"] for t in response.context["chart"]["data"]]
    # Escaped once more for Plotly, which reads <b> and & in legends and hover labels.
    assert "&lt;/script&gt;&lt;b&gt;x&amp;y (apikey_evil)" in names
    assert "&lt;/script&gt;&lt;b&gt;x&amp;y (apikey_evil)" in html  # in the breakdown table


def test_table_of_the_chart_has_every_minute_and_adds_up_to_the_totals(client, org, world):
    client.force_login(member(org))
    html = client.get(f"{PAGE}?month=2026-11&day=2026-11-04&hour=18").content.decode()
    table = re.search(r'<table data-testid="periods">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", table)
    assert [label for label, _ in rows] == [f"18:{m:02d}" for m in range(60)]
    cells = [[int(v.replace(",", "")) for v in re.findall(r">([\d,]+)<", r)] for _, r in rows]
    want = raw_totals(world["rows"], u(2026, 11, 4, 18), u(2026, 11, 4, 19))
    columns = ["input_tokens", "uncached_input_tokens", "cache_write_tokens"]
    columns += ["cache_read_tokens", "output_tokens", "requests", "rate_limited_requests"]
    assert [sum(c[i] for c in cells) for i in range(7)] == [want[c] for c in columns]
    assert totals_on_page(html)["requests"] == want["requests"] > 0


def test_grouped_by_user_the_chart_draws_the_top_people_and_everyone_else(client, org):
    """Thirteen people: the ten with the most tokens one bar each, the other three as
    "Everyone else (3 people)" with the exact sum of their tokens in each day; the table
    under the chart still lists every person."""
    from console.models import Account

    people = [
        Account.objects.create(org=org, external_id=f"p{i:02d}", name=f"Person {i:02d}")
        for i in range(13)
    ]
    rows = [
        raw(series_for(org, account=person), u(2026, 11, day, 12), output_tokens=100 * (i + 1),
            uncached_input_tokens=i)
        for i, person in enumerate(people)
        for day in (3, 9)
    ]  # fmt: skip
    store_batch(org, rows)
    rollup_pending()
    client.force_login(member(org))
    response = client.get(f"{PAGE}?month=2026-11&tz=UTC&group_by=account")
    data = response.context["chart"]["data"]
    traces = {t["name"]: t["y"] for t in data}
    colors = {t["name"]: t["marker"]["color"] for t in data}
    # Everyone else in a neutral colour, so the palette's ten colours are the ten people's.
    assert colors["Everyone else (3 people)"] == charts.REST_COLOR
    assert len({colors[name] for name in colors if name.startswith("Person")}) == 10
    top = [f"Person {i:02d} (p{i:02d})" for i in range(12, 2, -1)]
    assert list(traces) == [*top, "Everyone else (3 people)"]
    others = [sum(r.output_tokens + r.uncached_input_tokens for r in rows
                  if r.timestamp.day == day and r.series.account in people[:3])
              for day in range(1, 31)]  # fmt: skip
    assert traces["Everyone else (3 people)"] == others and sum(others) == 2 * (600 + 3)
    assert traces[top[0]][2] == 1300 + 12  # the 3rd of November
    html = response.content.decode()
    assert all(f"Person {i:02d} (p{i:02d})" in html for i in range(13))
