"""POST /api/v1/litellm: LiteLLM's StandardLoggingPayloads in, Usage and Cost figures out.

The payloads are built field for field from LiteLLM's ``StandardLoggingPayload`` TypedDict
(``litellm/types/utils.py``) as its ``get_standard_logging_object_payload`` fills it: epoch
float times, ``prompt_tokens`` including cache reads and writes (Anthropic's transformation
adds them), the split in ``metadata.usage_object``. The expected figures are summed here from
the payloads themselves, never from stored rows.
"""

import datetime as dt
import gzip
import json
import uuid
from fractions import Fraction
from zoneinfo import ZoneInfo

import hypothesis
import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from costs.selectors import cost_report
from usage.ingest.contract import Invalid
from usage.ingest.keys import create_ingest_key
from usage.ingest.sources.litellm import to_record
from usage.models import ApiKey, RequestLog, Workspace
from usage.rollups import rollup_pending
from usage.selectors import Scope, UsageQuery, usage_report

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("nudges")]

URL = "/api/v1/litellm"
UTC = ZoneInfo("UTC")
SONNET = "claude-sonnet-4-5-20250929"
# Sonnet 4.5 up to 200k, USD per million tokens: input, 5m write, 1h write, read, output
# (Anthropic's public price list); web search USD 10 per 1,000.
SONNET_RATES = {"input": 3, "write_5m": "3.75", "write_1h": 6, "read": "0.30", "output": 15}
WEB_SEARCH_PER_SEARCH = Fraction(10, 1000)
START = dt.datetime(2026, 11, 14, 9, 30, 5, 250_000, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def secret(org):
    return create_ingest_key(org, "litellm proxy")[1]


def usage_object(uncached: int, output: int, read: int = 0, write_5m: int = 0, write_1h=0):
    """LiteLLM's Usage for an Anthropic call, dumped as the payload's usage_object carries it."""
    write = write_5m + write_1h
    prompt = uncached + read + write
    return {
        "completion_tokens": output,
        "prompt_tokens": prompt,
        "total_tokens": prompt + output,
        "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": output},
        "prompt_tokens_details": {
            "audio_tokens": None,
            "cached_tokens": read,
            "text_tokens": uncached,
            "image_tokens": None,
            "cache_creation_tokens": write,
            "cache_creation_token_details": {
                "ephemeral_5m_input_tokens": write_5m,
                "ephemeral_1h_input_tokens": write_1h,
            },
        },
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


def payload(
    *,
    uncached: int = 100,
    output: int = 20,
    read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    searches: int | None = None,
    start: float = START,
    team: tuple[str, str] | None = ("team-research-0001", "Research"),
    key: tuple[str, str] | None = ("9f2c" * 16, "research-backend"),
    user: tuple[str, str] | None = ("user-ada", "ada@example.com"),
    end_user: str = "",
    model: str = SONNET,
    provider: str = "anthropic",
    **fields,
) -> dict:
    """A success StandardLoggingPayload from LiteLLM's proxy for an Anthropic call."""
    call_id = str(uuid.uuid4())
    usage = usage_object(uncached, output, read, write_5m, write_1h)
    if searches is not None:
        usage["server_tool_use"] = {"web_search_requests": searches}
    metadata = {
        "user_api_key_hash": key[0] if key else None,
        "user_api_key_alias": key[1] if key else None,
        "user_api_key_spend": 1.25,
        "user_api_key_max_budget": None,
        "user_api_key_budget_reset_at": None,
        "user_api_key_user_spend": 3.5,
        "user_api_key_user_max_budget": None,
        "user_api_key_team_spend": 12.0,
        "user_api_key_team_max_budget": 100.0,
        "user_api_key_org_id": None,
        "user_api_key_org_alias": None,
        "user_api_key_team_id": team[0] if team else None,
        "user_api_key_project_id": None,
        "user_api_key_project_alias": None,
        "user_api_key_user_id": user[0] if user else None,
        "user_api_key_user_email": user[1] if user else None,
        "user_api_key_team_alias": team[1] if team else None,
        "user_api_key_end_user_id": end_user or None,
        "user_api_key_request_route": "/v1/chat/completions",
        "user_api_key_auth_metadata": {},
        "spend_logs_metadata": None,
        "requester_ip_address": "10.0.0.5",
        "user_agent": "OpenAI/Python 1.54.0",
        "requester_metadata": {},
        "requester_custom_headers": {},
        "prompt_management_metadata": None,
        "mcp_tool_call_metadata": None,
        "vector_store_request_metadata": None,
        "applied_guardrails": [],
        "usage_object": usage,
        "cold_storage_object_key": None,
        "team_alias": team[1] if team else None,
        "team_id": team[0] if team else None,
    }
    body = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "trace_id": str(uuid.uuid4()),
        "litellm_call_id": call_id,
        "call_type": "acompletion",
        "stream": False,
        "response_cost": 0.0042,
        "cost_breakdown": {"input_cost": 0.003, "output_cost": 0.0012, "total_cost": 0.0042},
        "response_cost_failure_debug_info": None,
        "status": "success",
        "status_fields": {"llm_api_status": "success", "guardrail_status": "not_run"},
        "custom_llm_provider": provider,
        "total_tokens": usage["total_tokens"],
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": output,
        "startTime": start,
        "endTime": start + 2.333,
        "completionStartTime": start + 0.9,
        "response_time": 2.333,
        "model_map_information": {"model_map_key": model, "model_map_value": None},
        "model": model,
        "model_id": "d3a1c6f0e2",
        "model_group": "claude-sonnet",
        "api_base": "https://api.anthropic.com/v1/messages",
        "metadata": metadata,
        "cache_hit": False,
        "cache_key": None,
        "saved_cache_cost": 0.0,
        "request_tags": ["prod"],
        "end_user": end_user,
        "requester_ip_address": "10.0.0.5",
        "user_agent": "OpenAI/Python 1.54.0",
        "messages": [{"role": "user", "content": "What changed today?"}],
        "response": {"id": "msg_x", "choices": [{"message": {"content": "Not much."}}]},
        "error_str": None,
        "error_information": None,
        "model_parameters": {"max_tokens": 1024},
        "hidden_params": {
            "model_id": "d3a1c6f0e2",
            "cache_key": None,
            "api_base": "https://api.anthropic.com/v1/messages",
            "response_cost": 0.0042,
            "litellm_overhead_time_ms": 3.1,
            "additional_headers": {"x_ratelimit_remaining_requests": 49},
            "batch_models": None,
            "litellm_model_name": model,
            "usage_object": usage,
        },
        "guardrail_information": None,
        "standard_built_in_tools_params": None,
    }
    body.update(fields)
    return body


def rate_limited(**fields) -> dict:
    """A failed call that the provider refused with a 429, as LiteLLM logs it."""
    failed = payload(uncached=0, output=0, **fields)
    failed.update(
        id=failed["litellm_call_id"],  # no provider response: id falls back to the call id
        status="failure",
        status_fields={"llm_api_status": "failure", "guardrail_status": "not_run"},
        response_cost=0.0,
        response={},
        error_str="litellm.RateLimitError: AnthropicException - rate_limit_error",
        error_information={
            "error_code": "429",
            "error_class": "RateLimitError",
            "llm_provider": "anthropic",
            "traceback": "Traceback (most recent call last): ...",
            "error_message": "litellm.RateLimitError: AnthropicException - rate_limit_error",
            "error_rate_limit_category": "vendor_rate_limit",
            "error_rate_limit_type": "requests",
        },
    )
    return failed


def cache_hit(**fields) -> dict:
    """A call LiteLLM answered from its own cache: no provider call was made."""
    hit = payload(**fields)
    hit.update(id=f"{hit['id']}_cache_hit1763112605.25", cache_hit=True, response_cost=0.0)
    return hit


def post(client, body, secret, content_type="application/json", **headers):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return client.post(
        URL, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {secret}", **headers
    )


def ndjson(*payloads) -> bytes:
    # LiteLLM joins with "\n" and sends it as application/json.
    return "\n".join(json.dumps(p) for p in payloads).encode()


# --- independent sums from the payloads ---------------------------------------------------


def counted(payloads) -> list[dict]:
    """What each payload means, read straight from LiteLLM's own fields."""
    out = []
    for p in payloads:
        if p.get("cache_hit"):
            continue
        u = p["metadata"]["usage_object"]
        details = u["prompt_tokens_details"]["cache_creation_token_details"]
        out.append(
            {
                "call": p["litellm_call_id"],
                "team": p["metadata"]["user_api_key_team_id"],
                "read": u["cache_read_input_tokens"],
                "write_5m": details["ephemeral_5m_input_tokens"],
                "write_1h": details["ephemeral_1h_input_tokens"],
                "uncached": p["prompt_tokens"]
                - u["cache_read_input_tokens"]
                - u["cache_creation_input_tokens"],
                "output": p["completion_tokens"],
                "searches": u.get("server_tool_use", {}).get("web_search_requests", 0),
                "limited": p["status"] == "failure",
            }
        )
    return out


def expected_cost(calls) -> Fraction:
    r = {k: Fraction(v) / 10**6 for k, v in SONNET_RATES.items()}
    return sum(
        (
            c["uncached"] * r["input"]
            + c["write_5m"] * r["write_5m"]
            + c["write_1h"] * r["write_1h"]
            + c["read"] * r["read"]
            + c["output"] * r["output"]
            + c["searches"] * WEB_SEARCH_PER_SEARCH
            for c in calls
        ),
        Fraction(0),
    )


def figures(org, **query):
    rollup_pending(org_id=org.id)
    return usage_report(
        UsageQuery(Scope(org_id=org.id), zone=UTC, year=2026, month=11, **query)
    ), cost_report(org, zone=UTC, year=2026, month=11)


def mixed_batch() -> list[dict]:
    """A flush of LiteLLM's queue: two teams, keys and people, a 429, a cache hit."""
    return [
        payload(uncached=120, output=35, read=3000, write_5m=500),
        payload(uncached=40, output=900, write_1h=2048, searches=2, start=START + 60),
        payload(
            uncached=7,
            output=3,
            read=12_000,
            team=("team-support-0002", "Support"),
            key=("77ab" * 16, "support-bot"),
            user=None,
            end_user="customer-42",
            start=START + 3600,
        ),
        rate_limited(start=START + 120),
        cache_hit(start=START + 180),
        payload(uncached=1, output=1, call_type="aembedding"),
    ]


# --- the end-to-end figures ---------------------------------------------------------------


def test_the_url_is_named():
    assert reverse("api:litellm") == URL


def test_a_batch_reaches_usage_and_cost_and_a_resent_batch_counts_once(client, org, secret):
    batch = mixed_batch()
    calls = counted(batch[:5])  # the embedding is skipped, not metered

    response = post(client, batch, secret)
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "accepted": 4,
        "duplicates": 0,
        "rejected": 0,
        "skipped": 2,
        "errors": [],
    }
    usage, cost = figures(org)
    totals = usage["totals"]
    assert totals["requests"] == len(calls) == 4
    assert totals["uncached_input_tokens"] == sum(c["uncached"] for c in calls)
    assert totals["cache_read_tokens"] == sum(c["read"] for c in calls)
    assert totals["cache_write_5m_tokens"] == sum(c["write_5m"] for c in calls)
    assert totals["cache_write_1h_tokens"] == sum(c["write_1h"] for c in calls)
    assert totals["output_tokens"] == sum(c["output"] for c in calls)
    assert totals["web_search_requests"] == sum(c["searches"] for c in calls)
    assert totals["rate_limited_requests"] == totals["rate_limited_by_requests"] == 1
    assert Fraction(cost.totals.total) == expected_cost(calls)
    assert cost.totals.unpriced_tokens == 0

    # LiteLLM does not retry, but a re-sent file or batch must not count twice.
    again = post(client, batch, secret)
    assert again.status_code == 200
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 4
    assert again.json()["skipped"] == 2
    usage_again, cost_again = figures(org)
    assert usage_again["totals"] == totals
    assert cost_again.totals.total == cost.totals.total
    assert RequestLog.objects.filter(org=org).count() == 4


def test_teams_become_workspaces_and_keys_api_keys(client, org, secret):
    batch = mixed_batch()
    assert post(client, batch, secret).status_code == 200
    workspaces = dict(Workspace.objects.filter(org=org).values_list("external_id", "name"))
    assert workspaces["team-research-0001"] == "Research"
    assert workspaces["team-support-0002"] == "Support"
    keys = dict(ApiKey.objects.filter(workspace__org=org).values_list("external_id", "name"))
    assert keys == {"9f2c" * 16: "research-backend", "77ab" * 16: "support-bot"}

    usage, _ = figures(org, group_by="workspace")
    by_team = {g["label"]: g["input_tokens"] for g in usage["groups"]}
    calls = counted(batch[:5])
    for team_id, name in (("team-research-0001", "Research"), ("team-support-0002", "Support")):
        mine = [c for c in calls if c["team"] == team_id]
        assert by_team[name] == sum(
            c["uncached"] + c["read"] + c["write_5m"] + c["write_1h"] for c in mine
        )


@pytest.mark.parametrize("shape", ["array", "ndjson", "single", "single-pretty", "gzip"])
def test_each_log_format_is_read(client, org, secret, shape):
    one, two = payload(read=10, uncached=5), payload(write_5m=7)
    if shape == "array":
        body, want = json.dumps([one, two]).encode(), 2
    elif shape == "ndjson":
        body, want = ndjson(one, two) + b"\n", 2
    elif shape == "single":
        body, want = json.dumps(one).encode(), 1
    elif shape == "single-pretty":
        body, want = b"\n" + json.dumps(one, indent=2).encode(), 1
    else:
        body, want = gzip.compress(json.dumps([one, two]).encode()), 2
    headers = {"HTTP_CONTENT_ENCODING": "gzip"} if shape == "gzip" else {}
    response = post(client, body, secret, **headers)
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == want
    stored = RequestLog.objects.get(request_id=one["litellm_call_id"])
    assert (stored.uncached_input_tokens, stored.cache_read_tokens) == (5, 10)


def test_a_batch_of_cache_hits_only_is_skipped_not_an_error(client, org, secret):
    response = post(client, [cache_hit(), cache_hit()], secret)
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": 0,
        "skipped": 2,
        "errors": [],
    }
    assert not RequestLog.objects.exists()


# --- the mapping ----------------------------------------------------------------------------


def test_a_success_maps_every_field():
    p = payload(uncached=120, output=35, read=3000, write_5m=400, write_1h=100, searches=1)
    mapped = to_record(json.dumps(p).encode())
    assert mapped.record == {
        "request_id": p["litellm_call_id"],
        "timestamp": "2026-11-14T09:30:05.250000+00:00",
        "model": SONNET,
        "workspace_id": "team-research-0001",
        "workspace_name": "Research",
        "api_key_id": "9f2c" * 16,
        "api_key_name": "research-backend",
        "account_id": "user-ada",
        "account_name": "ada@example.com",
        "status_code": 200,
        "rate_limit_type": None,
        "usage": {
            "input_tokens": 120,
            "output_tokens": 35,
            "cache_read_input_tokens": 3000,
            "cache_creation_input_tokens": 500,
            "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 100},
            "server_tool_use": {"web_search_requests": 1},
        },
        "client_cost_usd": 0.0042,  # LiteLLM's own estimate, kept beside our pricing
    }
    assert mapped.sources["account_id"] == "metadata.user_api_key_user_id"
    assert mapped.sources["usage.input_tokens"] == "prompt_tokens"


def test_litellms_own_cost_estimate_is_stored_to_the_nano_dollar(client, org, secret):
    one, two = payload(), payload()
    two.update(litellm_call_id="call-two", id="call-two", response_cost=1.23456789012)
    response = post(client, [one, two], secret)
    assert response.json()["accepted"] == 2
    stored = dict(RequestLog.objects.values_list("request_id", "client_cost_nanos"))
    assert stored == {one["litellm_call_id"]: 4_200_000, "call-two": 1_234_567_890}


def test_a_negative_cost_estimate_is_refused_by_its_name(client, org, secret):
    bad = payload()
    bad["response_cost"] = -1
    body = post(client, [bad], secret).json()
    assert body["rejected"] == 1 and "response_cost" in body["errors"][0]["field"]
    assert not RequestLog.objects.exists()


def test_a_rate_limited_call_is_a_429():
    record = to_record(json.dumps(rate_limited()).encode()).record
    assert (record["status_code"], record["rate_limit_type"]) == (429, "requests")
    tokens = rate_limited()
    tokens["error_information"].update(error_code=None, error_rate_limit_type="tokens")
    record = to_record(json.dumps(tokens).encode()).record
    # "tokens" says neither input nor output; the error class alone makes it a 429.
    assert (record["status_code"], record["rate_limit_type"]) == (429, None)


def test_other_failures_keep_their_status_or_are_skipped():
    failed = rate_limited()
    failed["error_information"].update(error_code="500", error_class="InternalServerError")
    assert to_record(json.dumps(failed).encode()).record["status_code"] == 500
    failed["error_information"].update(error_code="", error_class="APIConnectionError")
    assert to_record(json.dumps(failed).encode()) is None
    failed["error_information"] = None
    assert to_record(json.dumps(failed).encode()) is None


def test_who_called():
    # No internal user: the end user is the account, with no name.
    p = payload(user=None, end_user="customer-42")
    record = to_record(json.dumps(p).encode()).record
    assert (record["account_id"], record["account_name"]) == ("customer-42", None)
    # LiteLLM sends end_user "" when there is none; no team means the Default workspace.
    p = payload(user=None, team=None, key=(None, "alias-only"))
    record = to_record(json.dumps(p).encode()).record
    assert record["account_id"] is None
    assert (record["workspace_id"], record["workspace_name"]) == (None, None)
    assert (record["api_key_id"], record["api_key_name"]) == ("alias-only", "alias-only")
    # Older payloads carry the team only as team_id / team_alias.
    p = payload()
    p["metadata"].update(user_api_key_team_id=None, user_api_key_team_alias=None)
    record = to_record(json.dumps(p).encode()).record
    assert (record["workspace_id"], record["workspace_name"]) == ("team-research-0001", "Research")


def test_request_id_is_the_call_id_else_the_id():
    p = payload()
    assert to_record(json.dumps(p).encode()).record["request_id"] == p["litellm_call_id"]
    p["litellm_call_id"] = None
    assert to_record(json.dumps(p).encode()).record["request_id"] == p["id"]


@pytest.mark.parametrize(
    ("provider", "model", "stored"),
    [
        ("anthropic", SONNET, SONNET),
        ("anthropic", f"anthropic/{SONNET}", SONNET),
        (
            "bedrock",
            "bedrock/us.anthropic.claude-sonnet-4-5-v1:0",
            "bedrock/us.anthropic.claude-sonnet-4-5-v1:0",
        ),
        ("openai", "gpt-4o-2024-08-06", "openai/gpt-4o-2024-08-06"),
        (None, "gpt-4o", "gpt-4o"),
    ],
)
def test_provider_and_model_come_through(provider, model, stored):
    p = payload(model=model, provider=provider)
    assert to_record(json.dumps(p).encode()).record["model"] == stored


def test_the_model_falls_back_to_the_name_sent_to_the_provider():
    p = payload()
    p["model"] = ""
    assert to_record(json.dumps(p).encode()).record["model"] == SONNET


def test_uncached_input_comes_from_the_details_when_the_anthropic_fields_are_absent():
    # An OpenAI call: prompt_tokens include cached_tokens; no cache writes.
    p = payload(provider="openai", model="gpt-4o", uncached=900, read=1100)
    usage = p["metadata"]["usage_object"]
    del usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
    del usage["prompt_tokens_details"]["cache_creation_tokens"]
    del usage["prompt_tokens_details"]["cache_creation_token_details"]
    mapped = to_record(json.dumps(p).encode())
    assert mapped.record["usage"]["input_tokens"] == 900
    assert mapped.record["usage"]["cache_read_input_tokens"] == 1100
    assert mapped.sources["usage.cache_read_input_tokens"] == (
        "metadata.usage_object.prompt_tokens_details.cached_tokens"
    )


# --- bad input ------------------------------------------------------------------------------


def _set(p: dict, path: str, value) -> dict:
    *parents, leaf = path.split(".")
    node = p
    for name in parents:
        node = node[name]
    if value is _DROP:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return p


_DROP = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("prompt_tokens", -1, "prompt_tokens"),
        ("prompt_tokens", "12", "prompt_tokens"),
        ("prompt_tokens", 1.5, "prompt_tokens"),
        ("completion_tokens", True, "completion_tokens"),
        ("completion_tokens", -5, "completion_tokens"),
        (
            "metadata.usage_object.cache_read_input_tokens",
            -1,
            "metadata.usage_object.cache_read_input_tokens",
        ),
        (
            "metadata.usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
            "x",
            "metadata.usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
        ),
        ("metadata.usage_object", [], "metadata.usage_object"),
        ("metadata", "team", "metadata"),
        ("metadata.user_api_key_team_id", 7, "metadata.user_api_key_team_id"),
        ("startTime", _DROP, "startTime"),
        ("startTime", -1, "startTime"),
        ("startTime", "2026-11-14 09:30:05", "startTime"),
        ("startTime", 4102444800.0, "startTime"),  # 2100: more than 5 minutes ahead
        ("status", "ok", "status"),
        ("cache_hit", "no", "cache_hit"),
        ("model", _DROP, "model"),
        ("model", "m" * 129, "model"),
        ("litellm_call_id", "c" * 256, "litellm_call_id"),
        ("metadata.user_api_key_team_id", "t" * 129, "metadata.user_api_key_team_id"),
        ("metadata.user_api_key_hash", "k\x00", "metadata.user_api_key_hash"),
        (
            "metadata.usage_object.cache_creation_input_tokens",
            9,
            "metadata.usage_object.cache_creation_input_tokens",
        ),
    ],
)
def test_a_bad_field_is_rejected_with_its_position_and_name(
    client, org, secret, path, value, field
):
    bad = payload(read=10, write_5m=3)
    bad["hidden_params"]["litellm_model_name"] = None
    _set(bad, path, value)
    good = payload()
    response = post(client, [good, bad], secret)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    [error] = body["errors"]
    assert (error["position"], error["field"]) == (1, field)
    assert error["message"]
    assert error["request_id"] == bad["litellm_call_id"]
    # Alone, it is a 422: nothing was stored.
    assert post(client, [bad], secret).status_code == 422


def test_a_key_moved_to_another_team_is_rejected_naming_the_key_hash(client, org, secret):
    assert post(client, [payload(team=None)], secret).json()["accepted"] == 1
    moved = payload(team=("team-new-0003", "New"))
    response = post(client, [moved], secret)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["position"], error["field"]) == (0, "metadata.user_api_key_hash")
    assert error["request_id"] == moved["litellm_call_id"]
    assert "belongs to workspace Default" in error["message"]


def test_fewer_prompt_tokens_than_cache_tokens_is_rejected():
    p = payload(uncached=0, read=100)
    p["prompt_tokens"] = 50
    with pytest.raises(Invalid) as caught:
        to_record(json.dumps(p).encode())
    assert caught.value.field == "prompt_tokens"
    assert "cache reads (100)" in caught.value.message


def test_the_legacy_v1_payload_is_named(client, org, secret):
    legacy = {
        "id": "chatcmpl-1",
        "call_type": "litellm.completion",
        "cache_hit": "False",
        "startTime": "2026-11-14 09:30:05.250000",
        "model": "claude-sonnet-4-5",
        "usage": "Usage(completion_tokens=35, prompt_tokens=3620)",
        "cost": "0.0042",
    }
    response = post(client, [legacy], secret)
    assert response.status_code == 422
    assert "generic_api_use_v1" in response.json()["errors"][0]["message"]


def test_ndjson_positions_are_line_numbers(client, org, secret):
    body = ndjson(payload(), {"startTime": -3}) + b"\n\nnot json\n"
    response = post(client, body, secret)
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [(e["position"], e["field"]) for e in errors] == [(2, "startTime"), (4, None)]


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"", 400), (b"   ", 400), (b"[]", 400), (b"[1,", 400), (b'"text"', 400), (b"42", 400)],
)
def test_an_unreadable_body_is_400(client, org, secret, body, status):
    response = post(client, body, secret)
    assert response.status_code == status
    assert response.json()["error"]


def test_an_array_of_non_objects_is_rejected_item_by_item(client, org, secret):
    response = post(client, [1, "x", [], None], secret)
    body = response.json()
    assert response.status_code == 422
    assert [(e["position"], e["field"]) for e in body["errors"]] == [
        (0, None),
        (1, None),
        (2, None),
    ]
    assert body["skipped"] == 1  # LiteLLM queues None when it could not build a payload


def test_a_wrong_key_is_401(client, org):
    response = post(client, [payload()], "mbi_wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="meterboard", error="invalid_token"'
    assert not RequestLog.objects.exists()


def test_the_body_limit_applies(client, org, secret, settings):
    settings.INGEST_MAX_BODY_BYTES = 2000
    assert post(client, [payload()], secret).status_code == 413
    small = gzip.compress(json.dumps([payload()] * 3).encode())
    assert len(small) < 2000
    assert post(client, small, secret, HTTP_CONTENT_ENCODING="gzip").status_code == 413


# Any JSON value where a payload field should be, and whole odd payloads: never a 5xx.
# (JSON has no Infinity or NaN: a body with one is unreadable, a 400 of its own.)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = [
    "id",
    "litellm_call_id",
    "call_type",
    "status",
    "custom_llm_provider",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "cache_hit",
    "end_user",
    "metadata",
    "hidden_params",
    "error_information",
    "metadata.usage_object",
    "metadata.user_api_key_hash",
    "metadata.user_api_key_alias",
    "metadata.user_api_key_team_id",
    "metadata.user_api_key_user_id",
    "metadata.user_api_key_user_email",
    "metadata.usage_object.prompt_tokens_details",
    "metadata.usage_object.cache_read_input_tokens",
    "metadata.usage_object.server_tool_use",
    "error_information.error_code",
]


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=st.lists(st.tuples(st.sampled_from(_FIELDS), _json), max_size=4), failed=st.booleans()
)
def test_arbitrary_field_values_never_give_a_5xx(client, org, secret, changes, failed):
    p = rate_limited() if failed else payload(read=5, write_1h=2)
    for path, value in changes:
        try:
            _set(p, path, value)
        except (KeyError, TypeError):
            continue  # the parent was replaced by a non-object earlier
    response = post(client, [p], secret)
    assert response.status_code in (200, 422), response.content
    body = response.json()
    assert body["accepted"] + body["duplicates"] + body["rejected"] + body["skipped"] == 1
    for error in body["errors"]:
        assert error["position"] == 0 and error["message"]


@hypothesis.settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_json)
def test_arbitrary_items_never_give_a_5xx(client, org, secret, value):
    response = post(client, [value], secret)
    assert response.status_code < 500, response.content
