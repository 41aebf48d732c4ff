"""The upstream client against a live local HTTP server that answers as scripted: paging by
next_page, 429 with retry-after, Anthropic's errors, answers that do not fit; and a pull's
error on the settings page."""

import datetime as dt

import pytest

from tests.upstreams.scripted import Scripted
from upstreams import client as upstream_client
from upstreams import services
from upstreams.client import Client, UpstreamError
from upstreams.models import Upstream

START = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)


def bucket(minute: int, *results) -> dict:
    start = START + dt.timedelta(minutes=minute)
    return {
        "starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ending_at": (start + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "results": list(results),
    }


def result(**fields) -> dict:
    base = {
        "uncached_input_tokens": 10,
        "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 2},
        "cache_read_input_tokens": 3,
        "output_tokens": 4,
        "server_tool_use": {"web_search_requests": 1},
        "api_key_id": None,
        "workspace_id": None,
        "model": "claude-sonnet-4-5-20250929",
        "service_tier": "standard",
        "context_window": "0-200k",
        "account_id": None,
    }
    return {**base, **fields}


@pytest.fixture
def server():
    scripted = Scripted()
    yield scripted
    scripted.close()


def test_reads_every_page_with_anthropics_headers_and_parameters(server):
    server.answers = [
        (200, {}, {"data": [bucket(0, result()), bucket(1)], "has_more": True, "next_page": "p2"}),
        (200, {}, {"data": [bucket(2, result(output_tokens=9))], "has_more": False}),
    ]
    client = Client(server.url, "k-secret")
    read = list(client.usage_minutes(START, START + dt.timedelta(minutes=3)))
    assert [len(b.results) for b in read] == [1, 0, 1]
    assert read[2].results[0].output_tokens == 9
    (path, first, headers), (_, second, _) = server.requests
    assert path == "/v1/organizations/usage_report/messages"
    assert headers.get("x-api-key") == "k-secret"
    assert headers.get("anthropic-version") == "2023-06-01"
    assert first["bucket_width"] == ["1m"] and first["limit"] == ["1440"]
    assert first["starting_at"] == ["2026-11-03T10:00:00Z"]
    assert first["ending_at"] == ["2026-11-03T10:03:00Z"]
    assert first["group_by[]"] == list(upstream_client.GROUP_BY)
    assert "page" not in first and second["page"] == ["p2"]


def test_waits_out_a_429_for_its_retry_after(server):
    waits = []
    server.answers = [
        (429, {"retry-after": "2"}, {"type": "error", "error": {"type": "rate_limit_error"}}),
        (200, {}, {"data": [bucket(0, result())], "has_more": False}),
    ]
    client = Client(server.url, "k", sleep=waits.append)
    read = list(client.usage_minutes(START, START + dt.timedelta(minutes=1)))
    assert waits == [2.0] and len(read) == 1 and len(server.requests) == 2


def test_a_retry_after_beyond_the_limit_is_an_error(server):
    server.answers = [
        (
            429,
            {"retry-after": "600"},
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        ),
    ]
    client = Client(server.url, "k", max_retry_after=60, sleep=pytest.fail)
    with pytest.raises(UpstreamError, match="429: rate_limit_error: slow down") as caught:
        list(client.usage_minutes(START, START + dt.timedelta(minutes=1)))
    assert caught.value.status == 429


def test_a_redirect_is_not_followed_with_the_key(server):
    """The key would travel to wherever a 3xx points, past the URL check: an error instead."""
    server.answers = [(302, {"location": f"{server.url}/elsewhere"}, {})]
    with pytest.raises(UpstreamError, match="answered 302") as caught:
        list(Client(server.url, "k").usage_minutes(START, START + dt.timedelta(minutes=1)))
    assert caught.value.status == 302 and len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, {}, {"data": [{"starting_at": "x"}], "has_more": False}), "does not fit the API"),
        ((200, {}, b"<html>"), "not JSON"),
        ((200, {}, {"data": [], "has_more": True, "next_page": None}), "without a new next_page"),
        (
            (200, {}, {"data": [bucket(0, result(output_tokens=-1))], "has_more": False}),
            "output_tokens",
        ),
    ],
)
def test_answers_that_do_not_fit_are_errors_naming_the_problem(server, answer, message):
    server.answers = [answer]
    with pytest.raises(UpstreamError, match=message):
        list(Client(server.url, "k").usage_minutes(START, START + dt.timedelta(minutes=1)))


def test_lists_are_read_through_every_page(server):
    server.answers = [
        (200, {}, {"data": [{"id": "w1", "name": "One"}], "has_more": True, "last_id": "w1"}),
        (200, {}, {"data": [{"id": "w2", "name": "Two"}], "has_more": False, "last_id": "w2"}),
    ]
    names = Client(server.url, "k").names("/v1/organizations/workspaces")
    assert [(n.id, n.name) for n in names] == [("w1", "One"), ("w2", "Two")]
    assert server.requests[1][1]["after_id"] == ["w1"]


@pytest.mark.django_db
def test_a_pull_records_the_upstreams_error_and_keeps_its_position(server, org):
    upstream = services.create_upstream(
        org, name="Up", base_url=server.url, key="bad-key", start=START, actor=None
    )
    server.answers = [
        (
            401,
            {},
            {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}},
        ),
    ]
    pulled = services.pull(upstream, now=START + dt.timedelta(hours=1))
    stored = Upstream.objects.get(pk=upstream.pk)
    assert stored.position == START
    assert stored.last_error == (
        "GET /v1/organizations/workspaces answered 401: authentication_error: bad key"
    )
    assert stored.last_error_at is not None and stored.last_success_at is None
    assert pulled.error == stored.last_error


@pytest.mark.django_db
def test_a_result_this_server_cannot_store_stops_the_pull_naming_it(server, org):
    upstream = services.create_upstream(
        org, name="Up", base_url=server.url, key="k", start=START, actor=None
    )
    server.answers = [
        (200, {}, {"data": [], "has_more": False}),
        (200, {}, {"data": [], "has_more": False}),
        (200, {}, {"data": [bucket(0, result(service_tier="flex"))], "has_more": False}),
    ]
    pulled = services.pull(upstream, now=START + dt.timedelta(minutes=20))
    assert "bucket 2026-11-03T10:00Z: service_tier: 'flex' is not one of" in pulled.error
    assert Upstream.objects.get(pk=upstream.pk).position == START
