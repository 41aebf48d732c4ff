"""The OpenAPI document says what the endpoints do: real answers validate against its schemas,
every value it allows is accepted and its limits are the enforced ones; the reference page
shows it."""

import jsonschema
import pytest

from adminapi.openapi import document
from tests import factories
from tests.costs.builders import raw, series_for, store_and_roll_up, utc

DOC = document()
START = {"starting_at": "2026-11-03T00:00:00Z"}


def _validate(body: dict, schema_name: str) -> None:
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": DOC["components"]}
    jsonschema.Draft202012Validator(root).validate(body)


@pytest.fixture
def data(org, shipped_prices):
    research = factories.make_workspace(org, "Research", "wrkspc_research")
    key = factories.make_api_key(org, research, "backend", "apikey_backend")
    store_and_roll_up(
        org,
        [
            raw(
                series_for(org, workspace=research, api_key=key),
                utc(2026, 11, 3, 9),
                output_tokens=5,
            ),
            raw(
                series_for(org),
                utc(2026, 11, 3, 10),
                uncached_input_tokens=7,
                web_search_requests=1,
            ),
        ],
    )


def _operation(path: str) -> dict:
    return DOC["paths"][path]["get"]


def _schema_of(path: str, status: str) -> str:
    ref = _operation(path)["responses"][status]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/organizations/usage_report/messages", START),
        (
            "/v1/organizations/usage_report/messages",
            {
                **START,
                "group_by[]": [
                    "api_key_id",
                    "workspace_id",
                    "model",
                    "service_tier",
                    "context_window",
                ],
            },
        ),
        ("/v1/organizations/cost_report", START),
        ("/v1/organizations/cost_report", {**START, "group_by[]": ["workspace_id", "description"]}),
        ("/v1/organizations/workspaces", {}),
        ("/v1/organizations/workspaces/{workspace_id}", {}),
        ("/v1/organizations/api_keys", {}),
        ("/v1/organizations/api_keys/{api_key_id}", {}),
    ],
)
def test_answers_validate_against_the_document(api, data, path, params):
    url = path.format(workspace_id="wrkspc_research", api_key_id="apikey_backend")
    response = api(url, params)
    assert response.status_code == 200
    _validate(response.json(), _schema_of(path, "200"))
    error = api(url.replace("research", "nope").replace("backend", "nope"), {"limit": "0"})
    assert error.status_code in (400, 404)
    _validate(error.json(), "Error")


def _query_params(path: str) -> list[dict]:
    return [p for p in _operation(path)["parameters"] if p["in"] == "query"]


@pytest.mark.parametrize(
    "path", ["/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"]
)
def test_every_documented_value_is_accepted_and_the_limits_are_enforced(api, path):
    for param in _query_params(path):
        schema = param["schema"]
        values = schema.get("items", schema).get("enum", [])
        for value in values:
            response = api(path, {**START, param["name"]: value})
            assert response.status_code == 200, (param["name"], value, response.content)
        if param["name"] == "limit":
            # The usage report's largest limit is that of its narrowest buckets.
            widest = {"bucket_width": "1m"} if "usage" in path else {}
            assert api(path, {**START, **widest, "limit": schema["maximum"]}).status_code == 200
            assert api(path, {**START, **widest, "limit": schema["maximum"] + 1}).status_code == 400
            assert api(path, {**START, "limit": schema["minimum"] - 1}).status_code == 400
    required = [p["name"] for p in _query_params(path) if p["required"]]
    assert required == ["starting_at"]
    assert api(path, {}).status_code == 400


def test_arrays_are_documented_as_clients_send_them():
    names = {p["name"] for p in _query_params("/v1/organizations/usage_report/messages")}
    assert {"group_by[]", "models[]", "context_window[]", "service_tiers[]"} <= names
    group_by = next(
        p
        for p in _query_params("/v1/organizations/usage_report/messages")
        if p["name"] == "group_by[]"
    )
    assert (group_by["style"], group_by["explode"]) == ("form", True)


def test_the_reference_page_and_document_are_public(client):
    page = client.get("/docs/admin-api/")
    assert page.status_code == 200
    html = page.content.decode()
    for path in DOC["paths"]:
        assert path in html
    assert "group_by[]" in html
    assert client.get("/docs/admin-api/openapi.json").json()["openapi"] == "3.1.0"
