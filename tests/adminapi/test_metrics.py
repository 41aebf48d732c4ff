"""GET /metrics: ingest outcomes by source, rollup backlog and delay, request latencies; only
for the token or an allowed address, and absent when neither is configured."""

import io
import json
import re
from ipaddress import ip_network

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from usage.rollups import rollup_pending

RECORD = {
    "timestamp": "2026-11-03T10:00:00Z",
    "model": "claude-sonnet-4-5-20250929",
    "usage": {"input_tokens": 10, "output_tokens": 2},
}


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "scrape-me-please"
    return settings.METRICS_TOKEN


def _scrape(client, token) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _ingest(client, org, records):
    out = io.StringIO()
    call_command("create_ingest_key", "--org", org.slug, stdout=out, stderr=io.StringIO())
    response = client.post(
        "/api/v1/logs",
        json.dumps(records),
        content_type="application/json",
        headers={"Authorization": f"Bearer {out.getvalue().strip()}"},
    )
    assert response.status_code == 200


def test_ingest_outcomes_backlog_and_delay(client, org, token):
    _ingest(
        client,
        org,
        [
            {**RECORD, "request_id": "req_1"},
            {**RECORD, "request_id": "req_2"},
            {**RECORD, "request_id": "req_1"},  # a duplicate
            {**RECORD, "request_id": "req_3", "model": ""},  # rejected
        ],
    )
    before = _scrape(client, token)
    http = (("outcome", "accepted"), ("source", "http"))
    assert before[("meterboard_ingest_records_total", http)] == 2
    assert (
        before[("meterboard_ingest_records_total", (("outcome", "duplicate"), ("source", "http")))]
        == 1
    )
    assert (
        before[("meterboard_ingest_records_total", (("outcome", "rejected"), ("source", "http")))]
        == 1
    )
    assert before[("meterboard_rollup_pending_batches", ())] == 1
    assert before[("meterboard_rollup_oldest_pending_age_seconds", ())] >= 0

    rollup_pending(org_id=org.id)
    after = _scrape(client, token)
    assert after[("meterboard_rollup_pending_batches", ())] == 0
    assert after[("meterboard_rollup_oldest_pending_age_seconds", ())] == 0
    assert after[("meterboard_rollup_delay_seconds_count", ())] == 1
    assert after[("meterboard_rollup_delay_seconds_sum", ())] >= 0


def test_request_latencies_by_view(client, org, token, settings, api):
    before = _scrape(client, token)
    labels = (("method", "GET"), ("view", "adminapi:workspaces"))
    start = before.get(("meterboard_request_duration_seconds_count", labels), 0)
    api("/v1/organizations/workspaces")
    api("/v1/organizations/workspaces")
    after = _scrape(client, token)
    assert after[("meterboard_request_duration_seconds_count", labels)] == start + 2


def test_without_the_token_or_an_allowed_address_no_metrics(client, db, token, settings):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    settings.METRICS_ALLOWED_IPS = (ip_network("127.0.0.1"),)
    allowed = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert allowed.status_code == 200
    assert re.search(r"^meterboard_rollup_pending_batches ", allowed.content.decode(), re.M)
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.9").status_code == 401


def test_metrics_are_absent_unless_configured(client):
    assert client.get("/metrics").status_code == 404
