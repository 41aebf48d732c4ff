"""The contract, against a live server: Anthropic's own Python client (and plain urllib for
what the client does not send) reads Meterboard as it reads api.anthropic.com.

From Anthropic's reference: auth by ``x-api-key`` with ``anthropic-version``; errors
``{"type": "error", "error": {"type", "message"}}`` with 400/401/404 and a ``request-id``
header the client exposes; lists paged by ``after_id`` with ``has_more``; reports paged by
``next_page`` until ``has_more`` is false; arrays as ``x[]=`` (the client's form), ``x[0]=``
and repeated ``x=``.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

import anthropic
import pytest

from adminapi.services import create_admin_key
from console.services import create_organization
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

pytestmark = pytest.mark.django_db(transaction=True)
USAGE = "/v1/organizations/usage_report/messages"


@pytest.fixture
def world(transactional_db):
    org = create_organization(slug="contract", name="Contract")
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    for n in range(3):
        factories.make_workspace(org, f"Team {n}", f"wrkspc_team{n}")
    key = factories.make_api_key(org, research, "backend", "apikey_backend")
    series = series_for(org, workspace=research, api_key=key)
    keyless = series_for(org, model="claude-haiku-4-5")
    # One request in every minute of 2026-11-03 (UTC), tokens = minute of the day + 1.
    rows = [
        raw(
            series if m % 2 else keyless, utc(2026, 11, 3, m // 60, m % 60, 30), output_tokens=m + 1
        )
        for m in range(1440)
    ]
    store_and_roll_up(org, rows)
    return {"org": org, "secret": create_admin_key(org, "contract")[1]}


@pytest.fixture
def sdk(live_server, world):
    return anthropic.Anthropic(api_key=world["secret"], base_url=live_server.url, max_retries=0)


def test_the_client_lists_and_reads_workspaces_and_keys(sdk):
    workspaces = sdk.organization.workspaces.list(limit=2)
    assert [w.id for w in workspaces] == [
        "wrkspc_research",
        "wrkspc_team0",
        "wrkspc_team1",
        "wrkspc_team2",
    ]
    assert sdk.organization.workspaces.retrieve("wrkspc_team1").name == "Team 1"
    [key] = list(sdk.organization.api_keys.list())
    assert (key.id, key.name, key.status, key.workspace_id) == (
        "apikey_backend",
        "backend",
        "active",
        "wrkspc_research",
    )
    assert sdk.organization.api_keys.retrieve("apikey_backend").name == "backend"


def test_the_client_maps_our_errors_to_its_exceptions(sdk, live_server):
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.organization.workspaces.retrieve("wrkspc_nope")
    assert missing.value.body["error"]["type"] == "not_found_error"
    assert missing.value.request_id.startswith("req_")
    with pytest.raises(anthropic.BadRequestError) as bad:
        sdk.get(
            USAGE, cast_to=object, options={"params": {"starting_at": "2026-11-03", "limit": 0}}
        )
    assert bad.value.body["error"]["message"].startswith("limit")
    stranger = anthropic.Anthropic(api_key="mba_wrong", base_url=live_server.url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        stranger.organization.workspaces.list()


def test_the_client_pages_a_day_of_minutes_grouped(sdk):
    params = {
        "starting_at": "2026-11-03T00:00:00Z",
        "ending_at": "2026-11-04T00:00:00Z",
        "bucket_width": "1m",
        "limit": 500,
        "group_by": ["model", "api_key_id"],
    }
    buckets, pages = [], 0
    while True:
        body = sdk.get(USAGE, cast_to=object, options={"params": params})
        pages += 1
        buckets += body["data"]
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        params["page"] = body["next_page"]
    assert pages == 3
    assert len(buckets) == 1440
    total = sum(r["output_tokens"] for b in buckets for r in b["results"])
    assert total == sum(m + 1 for m in range(1440))
    keyless = {
        r["api_key_id"] for b in buckets for r in b["results"] if r["model"] == "claude-haiku-4-5"
    }
    assert keyless == {None}


def _urlopen(url: str, secret: str):
    headers = {"x-api-key": secret, "anthropic-version": "2023-06-01"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (our own live server)
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.mark.parametrize(
    "arrays",
    [
        "group_by%5B%5D=model&group_by%5B%5D=api_key_id",
        "group_by%5B0%5D=model&group_by%5B1%5D=api_key_id",
        "group_by=model&group_by=api_key_id",
    ],
)
def test_arrays_in_any_form_over_http(live_server, world, arrays):
    query = "starting_at=2026-11-03T10:00:00Z&ending_at=2026-11-03T11:00:00Z&bucket_width=1h"
    status, headers, body = _urlopen(f"{live_server.url}{USAGE}?{query}&{arrays}", world["secret"])
    assert status == 200
    assert headers["request-id"].startswith("req_")
    results = body["data"][0]["results"]
    assert sorted((r["model"], r["api_key_id"] or "") for r in results) == [
        ("claude-haiku-4-5", ""),
        ("claude-sonnet-4-5-20250929", "apikey_backend"),
    ]


def test_an_unaligned_ending_at_now_is_accepted(live_server, world):
    query = urllib.parse.urlencode(
        {
            "starting_at": "2026-11-03T23:58:27.427722Z",
            "ending_at": "2026-11-04T00:00:01.5Z",
            "bucket_width": "1m",
        }
    )
    status, _headers, body = _urlopen(f"{live_server.url}{USAGE}?{query}", world["secret"])
    assert status == 200
    assert [b["starting_at"] for b in body["data"]] == [
        "2026-11-03T23:58:00Z",
        "2026-11-03T23:59:00Z",
    ]


def test_a_cost_report_over_http(live_server, world, shipped_prices):
    query = "starting_at=2026-11-03T00:00:00Z&limit=1&group_by[]=description"
    status, _headers, body = _urlopen(
        f"{live_server.url}/v1/organizations/cost_report?{query}", world["secret"]
    )
    assert status == 200
    descriptions = {r["description"] for r in body["data"][0]["results"]}
    assert descriptions == {
        "Claude Sonnet 4.5 Usage - Output Tokens",
        "Claude Haiku 4.5 Usage - Output Tokens",
    }
    assert all(
        isinstance(r["amount"], str) and r["currency"] == "USD" for r in body["data"][0]["results"]
    )
