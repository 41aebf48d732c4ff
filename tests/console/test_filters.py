"""The report filters both pages share (console/filters.py), tested through the pages:
one vocabulary, one rule per value, no model of another organisation anywhere, and no 5xx
whatever the query string."""

import csv
import datetime as dt
import io
import itertools
import re
import zoneinfo
from collections import defaultdict
from decimal import Decimal

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import Role, User
from console.models import Account, LlmModel
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

USAGE, USAGE_CSV = "/usage/", "/usage/export.csv"
COST, COST_CSV = "/cost/", "/cost/export.csv"
HX = {"HTTP_HX_REQUEST": "true"}
VERTEX_MODEL = "claude-3-5-sonnet-v2@20241022"  # the Vertex AI form of a model id
THEIR_MODEL = "claude-globex-secret-20990101"
NEVER_SENT = "claude-nobody-sent-20990101"

# Every page, htmx part and export of both reports, for a view with usage (2026-05-03).
REPORT_VIEWS = [
    (USAGE, "month=2026-05", {}),
    (USAGE, "month=2026-05", HX),
    (USAGE, "month=2026-05&day=2026-05-03", {}),
    (USAGE, "month=2026-05&day=2026-05-03&part=limits", HX),
    (USAGE, "month=2026-05&day=2026-05-03&part=rate_limited", HX),
    (USAGE, "month=2026-05&day=2026-05-03&hour=10", {}),
    (USAGE, "month=2026-05&group_by=model", {}),
    (USAGE_CSV, "month=2026-05&group_by=model", {}),
    (USAGE_CSV, "month=2026-05&day=2026-05-03&hour=10", {}),
    (COST, "month=2026-05", {}),
    (COST, "month=2026-05", HX),
    (COST, "month=2026-05&day=2026-05-03", {}),
    (COST_CSV, "month=2026-05&group_by=model", {}),
]


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def same_page(text: str, model_id: str) -> str:
    """A page with the model id asked for, and the per-response CSRF mask, taken out."""
    return re.sub(r"[A-Za-z0-9]{64}", "<csrf>", text.replace(model_id, "<model>"))


@pytest.fixture
def acme(org):
    """Acme with usage of Sonnet and of a Vertex model id on 2026-05-03 (one a 429)."""
    sonnet = series_for(org)
    vertex = series_for(org, model=VERTEX_MODEL)
    store_and_roll_up(
        org,
        [
            raw(sonnet, utc(2026, 5, 3, 10), uncached_input_tokens=1000, output_tokens=10),
            raw(sonnet, utc(2026, 5, 3, 10, 1), status_code=429, rate_limit_type="requests"),
            raw(vertex, utc(2026, 5, 3, 11), uncached_input_tokens=500, output_tokens=5),
        ],
    )
    return org


@pytest.fixture
def admin(client, acme):
    client.force_login(factories.make_member(acme, Role.ADMIN))
    return client


@pytest.fixture
def globex_model(other_org):
    """A model only Globex ever sent (on the same day as Acme's usage)."""
    theirs = series_for(other_org, model=THEIR_MODEL)
    store_and_roll_up(other_org, [raw(theirs, utc(2026, 5, 3, 10), output_tokens=7)])
    return LlmModel.objects.get(model_id=THEIR_MODEL)


# 11.1: another organisation's models are nowhere ----------------------------------------


@pytest.mark.parametrize("url,query,headers", REPORT_VIEWS)
def test_no_page_part_or_export_shows_another_organisations_model(
    admin, globex_model, url, query, headers
):
    response = admin.get(f"{url}?{query}", **headers)
    assert response.status_code == 200
    text = body(response)
    assert THEIR_MODEL not in text and globex_model.display_name not in text
    if "part=" not in query and (url != USAGE_CSV or "group_by" in query):  # lists models
        assert "claude-sonnet-4-5-20250929" in text


def test_the_limits_page_does_not_show_another_organisations_model(admin, globex_model):
    text = admin.get("/settings/limits/").content.decode()
    assert THEIR_MODEL not in text and globex_model.display_name not in text


@pytest.mark.parametrize(
    "url,headers",
    [(USAGE, {}), (USAGE, HX), (USAGE_CSV, {}), (COST, {}), (COST, HX), (COST_CSV, {})],
)
def test_another_organisations_model_reads_exactly_like_one_never_sent(
    admin, globex_model, url, headers
):
    theirs = admin.get(f"{url}?month=2026-05&model={THEIR_MODEL}", **headers)
    never = admin.get(f"{url}?month=2026-05&model={NEVER_SENT}", **headers)
    assert theirs.status_code == never.status_code == 404
    assert same_page(body(theirs), THEIR_MODEL) == same_page(body(never), NEVER_SENT)


# 11.7: one rule for a model id, the ingest contract's -----------------------------------


@pytest.mark.parametrize("url", [USAGE, USAGE_CSV, COST, COST_CSV])
def test_a_model_id_ingest_accepts_filters_both_reports(admin, url):
    response = admin.get(url, {"month": "2026-05", "model": VERTEX_MODEL})
    assert response.status_code == 200
    assert VERTEX_MODEL in body(response)


@pytest.mark.parametrize("url", [USAGE, COST])
def test_both_reports_list_and_select_the_vertex_model(admin, url):
    page = admin.get(url, {"month": "2026-05", "model": VERTEX_MODEL}).content.decode()
    assert f'<option value="{VERTEX_MODEL}" selected>' in page


# One vocabulary, one rule, one bar --------------------------------------------------------


@pytest.mark.parametrize(
    "query,message",
    [
        ("month=2026-13", "Month: “2026-13” is not a month; use YYYY-MM, such as 2026-03."),
        ("month=2026-05&day=2026-06-01", "Day: 2026-06-01 is not in the chosen month 2026-05."),
        ("tz=Mars/Olympus", "Time zone: “Mars/Olympus” is not an IANA time zone"),
        ("workspace=%3Cb%3E", "Workspace: “&lt;b&gt;” is not a workspace id"),
        ("group_by=colour", "Group by: Select a valid choice."),
        ("model=" + "x" * 129, "Model: Ensure this value has at most 128 characters"),
    ],
)
@pytest.mark.parametrize("url", [USAGE, COST])
def test_a_bad_value_gets_the_same_400_and_words_on_both_pages(admin, url, query, message):
    for headers in ({}, HX):
        response = admin.get(f"{url}?{query}", **headers)
        assert response.status_code == 400
        text = response.content.decode()
        assert "These filters cannot be shown" in text
        assert message in text
    assert admin.get(f"{url.rstrip('/')}/export.csv?{query}").status_code == 400


@pytest.mark.parametrize("url", [USAGE, USAGE_CSV, COST, COST_CSV])
@pytest.mark.parametrize("param", ["workspace", "model", "account"])
def test_an_id_this_organisation_does_not_have_is_404_on_both_pages(admin, other_org, url, param):
    foreign = factories.make_workspace(other_org, "Theirs", "wrkspc_theirs")
    theirs = Account.objects.create(org=other_org, external_id="them@globex.com", name="Them")
    series_for(other_org, workspace=foreign, model=THEIR_MODEL, account=theirs)
    value = {"workspace": "wrkspc_theirs", "model": THEIR_MODEL, "account": theirs.external_id}
    assert admin.get(url, {param: value[param]}).status_code == 404
    assert admin.get(url, {param: value[param]}, **HX).status_code == 404


STALE_IDS = [
    ("workspace", "wrkspc_gone", "There is no workspace “wrkspc_gone” in this organisation."),
    ("api_key", "apikey_gone", "There is no API key “apikey_gone” in this organisation."),
    ("model", NEVER_SENT, f"There is no model “{NEVER_SENT}” in this organisation."),
]
STALE_VIEWS = [
    (USAGE, {}, USAGE),
    (USAGE, HX, USAGE),
    (USAGE_CSV, {}, USAGE),
    (COST, {}, COST),
    (COST, HX, COST),
    (COST_CSV, {}, COST),
]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "url,headers,back,param,value,words",
    [
        (*view, *stale)
        for view in STALE_VIEWS
        for stale in STALE_IDS
        if not (stale[0] == "api_key" and view[0].startswith(COST))  # Cost has no key filter
    ],
)
def test_a_stale_id_gets_the_console_404_page_with_the_reason_and_a_way_back(
    admin, settings, url, headers, back, param, value, words, debug
):
    settings.DEBUG = debug  # the demo runs with DEBUG on: no debug page there either
    response = admin.get(url, {"month": "2026-05", "tz": "Asia/Tokyo", param: value}, **headers)
    assert response.status_code == 404
    page = body(response)
    assert 'data-testid="not-found"' in page
    assert words in page
    assert f'href="{back}?month=2026-05&amp;tz=Asia%2FTokyo" data-testid="back"' in page
    assert "technical_404" not in page and "Django tried these URL patterns" not in page
    assert "HX-Request" in response["Vary"]
    if headers:  # the fragment replaces the main area, whichever part asked
        assert response["HX-Retarget"] == "#main" and response["HX-Reswap"] == "innerHTML"
        assert "<html" not in page
    else:
        assert "<html" in page and 'aria-label="Main"' in page


def test_a_stale_id_with_a_bad_month_links_back_without_either(admin):
    response = admin.get(USAGE, {"month": "2026-13", "workspace": "wrkspc_gone"})
    assert response.status_code == 404
    page = body(response)
    assert f'href="{USAGE}" data-testid="back"' in page
    assert "Month: " in page  # every reason is said


@pytest.mark.parametrize(
    "url,headers",
    [(USAGE, {}), (USAGE, HX), (USAGE_CSV, {}), (COST, {}), (COST, HX), (COST_CSV, {})],
)
def test_another_organisations_account_reads_exactly_like_one_never_sent(
    admin, other_org, url, headers
):
    theirs = Account.objects.create(org=other_org, external_id="them@globex.com", name="Them")
    series_for(other_org, account=theirs)
    query = "month=2026-05&account="
    their_page = admin.get(f"{url}?{query}them@globex.com", **headers)
    never_page = admin.get(f"{url}?{query}nobody@globex.com", **headers)
    assert their_page.status_code == never_page.status_code == 404
    assert same_page(body(their_page), "them@globex.com") == same_page(
        body(never_page), "nobody@globex.com"
    )


@pytest.mark.parametrize("url", [USAGE, COST])
def test_both_pages_offer_the_days_of_the_month_as_a_list(admin, url):
    page = admin.get(url, {"month": "2026-02", "tz": "UTC"}).content.decode()
    select = re.search(r'<select id="f-day" name="day">(.*?)</select>', page, re.S).group(1)
    days = re.findall(r'<option value="(2026-02-\d\d)"', select)
    assert days == [f"2026-02-{d:02d}" for d in range(1, 29)]
    assert 'name="group_by"' in page and 'name="group"' not in page


@pytest.mark.parametrize("url", [COST, COST_CSV])
def test_old_cost_urls_with_group_redirect_to_group_by(admin, url):
    response = admin.get(url, {"month": "2026-05", "tz": "UTC", "group": "workspace"})
    assert response.status_code == 301
    assert response["Location"] == f"{url}?month=2026-05&tz=UTC&group_by=workspace"
    followed = admin.get(response["Location"])
    assert followed.status_code == 200
    if url == COST:
        assert followed.context["report"].group == "workspace"


@pytest.mark.parametrize("url", [USAGE, COST])
@pytest.mark.parametrize("query", ["month=2026-05", "month=2026-13"])
def test_both_pages_vary_on_hx_request(admin, url, query):
    for headers in ({}, HX):
        response = admin.get(f"{url}?{query}", **headers)
        assert "HX-Request" in response["Vary"]


# 11.8: a zone in a link shows the view in it; only the control's POST saves it -----------


@pytest.mark.parametrize("url", [USAGE, USAGE_CSV, COST, COST_CSV])
def test_a_zone_in_a_get_saves_nothing(admin, url):
    for headers in ({}, HX):
        assert (
            admin.get(url, {"month": "2026-05", "tz": "Asia/Tokyo"}, **headers).status_code == 200
        )
    assert not User.objects.exclude(time_zone="UTC").exists()


@pytest.mark.parametrize("url", [USAGE, COST])
def test_the_time_zone_control_saves_by_post_with_csrf_and_goes_back(acme, url):
    user = factories.make_member(acme, Role.DEVELOPER)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get(url, {"month": "2026-05", "tz": "Asia/Tokyo"}).content.decode()
    control = re.search(
        r'<form class="save-zone" method="post" action="([^"]+)".*?</form>', page, re.S
    )
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', control.group(0)))
    assert fields["tz"] == "Asia/Tokyo"

    forged = {k: v for k, v in fields.items() if k != "csrfmiddlewaretoken"}
    assert browser.post(control.group(1), forged).status_code == 403
    assert User.objects.get(pk=user.pk).time_zone == "UTC"

    response = browser.post(
        control.group(1), {**fields, "next": fields["next"].replace("&amp;", "&")}
    )
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{url}?month=2026-05&{'group_by=model&' if url == COST else ''}tz=Asia%2FTokyo"
    )
    assert User.objects.get(pk=user.pk).time_zone == "Asia/Tokyo"
    # Saved: the zone is now the default, and the control is no longer offered.
    again = browser.get(url, {"month": "2026-05"})
    assert again.context["selected"]["tz"] == "Asia/Tokyo"
    assert 'class="save-zone"' not in again.content.decode()


# The time-zone control: common zones first, canonical names only, old saves still work ----


def _zone_select(page: str) -> str:
    return re.search(r'<select id="f-tz" name="tz">(.*?)</select>', page, re.S).group(1)


@pytest.mark.parametrize("url", [USAGE, COST])
def test_the_zone_list_starts_with_common_zones_and_lists_canonical_names_only(admin, url):
    select = _zone_select(admin.get(url, {"month": "2026-05", "tz": "UTC"}).content.decode())
    common, rest = select.split('<optgroup label="All time zones">')
    assert re.findall(r'value="([^"]+)"', common)[:5] == [
        "UTC", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York"
    ]  # fmt: skip
    listed = re.findall(r'value="([^"]+)"', rest)
    assert listed == sorted(listed)
    known = zoneinfo.available_timezones()
    assert set(listed) <= known
    assert 300 < len(listed) < len(known) - 100  # ~420 of the ~600 raw names
    for junk in ("Factory", "EST5EDT", "US/Eastern", "Etc/GMT+5", "SystemV/EST5", "GB", "UCT"):
        assert f'value="{junk}"' not in select
    assert all(name.split("/")[0] not in ("Etc", "US", "SystemV") for name in listed)
    assert "Europe/London" in listed and "America/Argentina/Buenos_Aires" in listed
    assert ">America/Los Angeles<" in select  # read as words, sent as the IANA name
    assert select.count(" selected") == 1
    assert 'data-zone-search="f-tz"' in admin.get(url).content.decode()


@pytest.mark.parametrize("url", [USAGE, COST])
def test_an_old_saved_zone_outside_the_list_still_works(client, acme, url):
    user = factories.make_member(acme, Role.DEVELOPER)
    User.objects.filter(pk=user.pk).update(time_zone="EST5EDT")
    client.force_login(user)
    response = client.get(url, {"month": "2026-05"})
    assert response.status_code == 200
    assert response.context["selected"]["tz"] == "EST5EDT"
    select = _zone_select(response.content.decode())
    assert select.strip().startswith('<option value="EST5EDT" selected>EST5EDT</option>')
    assert select.count(" selected") == 1
    linked = client.get(url, {"month": "2026-05", "tz": "US/Pacific"})  # an old shared link
    assert linked.status_code == 200
    assert '<option value="US/Pacific" selected>' in linked.content.decode()


# 11.4: no value of any filter gives a 5xx -------------------------------------------------

EDGE_VALUES = [
    "0001-01", "0001-01-01", "9999-12", "9999-12-31", "1999-12", "1999-12-31", "2000-01",
    "2000-01-01", "2999-12", "2999-12-31", "3000-01", "10000-01", "2026-05", "2026-05-03",
    "2011-12-30", "2026-03-08", "23", "02:00", "01:00-04:00", "99", "-1", "0",
    "99999999999999999999999", "1e309", "NaN", "Pacific/Kiritimati", "Etc/GMT+12",
    "Pacific/Apia", "Australia/Lord_Howe", "America/St_Johns", "Mars/Olympus", "UTC", "default",
    "none", "model", "workspace", "-input_tokens", "limits", "rate_limited", "minute", "hour",
    VERTEX_MODEL, THEIR_MODEL, "", " ", "\x00", "%", "..", "<b>", "é" * 200,
]  # fmt: skip
PARAMS = [
    "workspace", "model", "month", "day", "hour", "api_key", "group_by", "group", "tz", "sort",
    "rl_page", "part", "granularity",
]  # fmt: skip
anything = st.one_of(st.sampled_from(EDGE_VALUES), st.text(max_size=30))
years = st.one_of(st.sampled_from([1, 1999, 2000, 2999, 3000, 9999]), st.integers(0, 99999))
months = st.one_of(
    st.sampled_from(["0001-01", "1999-12", "2000-01", "2999-12", "3000-01", "9999-12"]),
    st.builds(lambda y, m: f"{y:04d}-{m:02d}", years, st.integers(0, 13)),
)
days = st.one_of(
    st.sampled_from([dt.date.min, dt.date(2000, 1, 1), dt.date(2999, 12, 31), dt.date.max]),
    st.dates(),
).map(dt.date.isoformat)
query_strings = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(PARAMS, anything),
        "month": st.one_of(months, anything),
        "day": st.one_of(days, anything),
        "tz": st.one_of(st.sampled_from(sorted(zoneinfo.available_timezones())), anything),
    },
)


def test_out_of_range_months_and_days_are_a_400_with_a_message(admin):
    for url, query in itertools.product(
        [USAGE, USAGE_CSV, COST, COST_CSV],
        ["month=9999-12", "month=0001-01", "day=9999-12-31", "day=0001-01-01", "month=3000-01"],
    ):
        for headers in ({}, HX):
            response = admin.get(f"{url}?{query}", **headers)
            assert response.status_code == 400, (url, query)
            assert "is out of range (2000 to 2999)" in response.content.decode(), (url, query)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=query_strings)
@example(query={"month": "9999-12"})  # the review's 500 (issue 11.4), always tried
@example(query={"day": "9999-12-31", "tz": "Pacific/Kiritimati"})
def test_no_filter_value_gives_a_server_error(admin, globex_model, query):
    for url, headers in [
        (USAGE, {}), (USAGE, HX), (USAGE_CSV, {}), (COST, {}), (COST, HX), (COST_CSV, {}),
    ]:  # fmt: skip
        response = admin.get(url, query, **headers)  # an exception in the view fails the test
        if response.streaming:  # the rows are made while streaming: read (the start of) them
            for _chunk in itertools.islice(response.streaming_content, 200):
                pass
        assert response.status_code in (200, 301, 400, 404), (url, query, response.status_code)


def test_edge_days_that_exist_show_on_both_pages(admin):
    for url in (USAGE, COST):
        for day in (dt.date(2000, 1, 1), dt.date(2999, 12, 31)):
            query = {"day": day.isoformat(), "tz": "Pacific/Kiritimati"}
            assert admin.get(url, query).status_code == 200, (url, day)


# Grouping by user (issue 13.1) -------------------------------------------------------------


@pytest.fixture
def people(org):
    """Ada and Bob (and usage without an account) on Sonnet on 2026-05-03 and 05-20."""
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada", email="ada@acme.com")
    bob = Account.objects.create(org=org, external_id="u_bob", name="=Bob")  # a formula
    rows = [
        raw(series_for(org, account=account), utc(2026, 5, day, 9), uncached_input_tokens=n * day)
        for account, n in ((ada, 7000), (bob, 3000), (None, 1000))
        for day in (3, 20)
    ]
    store_and_roll_up(org, rows)
    return {"ada": ada, "bob": bob, "rows": rows}


@pytest.fixture
def people_admin(client, org, people):
    """An Admin of an organisation whose only usage is ``people``'s."""
    client.force_login(factories.make_member(org, Role.ADMIN))
    return client


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body(response))))


def test_both_reports_group_by_user_and_rank_people(people_admin, people):
    usage = people_admin.get(USAGE, {"month": "2026-05", "group_by": "account"}).content.decode()
    table = usage[usage.index('data-testid="breakdown"') :]  # by input tokens, largest first
    assert table.index("Ada (u_ada)") < table.index("=Bob (u_bob)") < table.index("No account")
    cost = people_admin.get(COST, {"month": "2026-05", "group_by": "account"}).content.decode()
    rows = cost[cost.index('data-testid="cost-breakdown"') :]  # by cost, largest first
    # Each person a link to their own view (their lines); usage of no account is not one.
    ada, bob, nobody = (
        rows.index(n)
        for n in (">Ada (u_ada)</a>", ">=Bob (u_bob)</a>", '<th scope="row">No account')
    )
    assert ada < bob < nobody
    for page in (usage, cost):
        assert '<option value="u_ada">Ada (u_ada)</option>' in page


def test_both_csvs_carry_the_account_id_and_name_when_grouped_by_user(people_admin, people):
    want_tokens = defaultdict(int)
    for r in people["rows"]:
        account = r.series.account
        want_tokens[(account.external_id, account.name) if account else ("", "No account")] += (
            r.uncached_input_tokens
        )
    query = {"month": "2026-05", "group_by": "account", "tz": "UTC"}
    usage = _csv(people_admin.get(USAGE_CSV, query))
    got_tokens = defaultdict(int)
    for line in usage:
        got_tokens[(line["account_id"], line["account_name"])] += int(line["input_tokens"])
    assert got_tokens == {
        ("u_ada", "Ada"): want_tokens[("u_ada", "Ada")],
        ("u_bob", "'=Bob"): want_tokens[("u_bob", "=Bob")],  # escaped as a formula
        ("", "No account"): want_tokens[("", "No account")],
    }
    # Sonnet 4.5's shipped input price: 3 USD per million tokens.
    cost = _csv(people_admin.get(COST_CSV, query))
    got_usd = defaultdict(Decimal)
    for line in cost:
        got_usd[(line["account_id"], line["account_name"])] += Decimal(line["amount_usd"])
    assert got_usd == {
        ("u_ada", "Ada"): Decimal(want_tokens[("u_ada", "Ada")] * 3) / 10**6,
        ("u_bob", "'=Bob"): Decimal(want_tokens[("u_bob", "=Bob")] * 3) / 10**6,
        ("", ""): Decimal(want_tokens[("", "No account")] * 3) / 10**6,
    }
    only_ada = _csv(people_admin.get(USAGE_CSV, {"month": "2026-05", "account": "u_ada"}))
    assert {(line["account_id"], line["account_name"]) for line in only_ada} == {("u_ada", "Ada")}
    assert sum(int(line["input_tokens"]) for line in only_ada) == want_tokens[("u_ada", "Ada")]
