"""GET /v1/organizations/workspaces and /api_keys (list and one), per Anthropic's reference.

* Lists take ``after_id`` / ``before_id`` (cursors: the page right after / before that
  object) and ``limit`` (1 to 1000, default 20), and answer
  ``{"data", "has_more", "first_id", "last_id"}``.
* Workspaces: ``{"type": "workspace", "id", "name", "created_at", "archived_at"}``; the
  Default workspace is not listed (it has no id; ``include_default`` is not supported).
  ``include_archived`` is accepted (nothing is archived here).
* API keys: ``{"type": "api_key", "id", "name", "workspace_id", "created_at", "created_by",
  "partial_key_hint", "status"}``; filters ``status`` (active, inactive, archived, expired),
  ``workspace_id``, ``created_by_user_id``. ``workspace_id`` is null for the Default
  workspace; ``partial_key_hint`` is null (Meterboard never sees the keys themselves).
* An unknown id is 404 ``not_found_error``.
"""

import pytest

from console.models import ApiKey
from tests import factories

WORKSPACES = "/v1/organizations/workspaces"
API_KEYS = "/v1/organizations/api_keys"


@pytest.fixture
def named(org):
    research = factories.make_workspace(org, "Research", "wrkspc_a")
    factories.make_workspace(org, "Support", "wrkspc_b")
    factories.make_workspace(org, "Sales", "wrkspc_c")
    factories.make_api_key(org, research, "backend", "apikey_1")
    disabled = factories.make_api_key(org, None, "console", "apikey_2")
    disabled.status = ApiKey.Status.DISABLED
    disabled.save()
    return research


def test_workspaces_listed_with_names_not_the_default(api, named):
    body = api(WORKSPACES).json()
    assert set(body) == {"data", "has_more", "first_id", "last_id"}
    assert [(w["id"], w["name"]) for w in body["data"]] == [
        ("wrkspc_a", "Research"),
        ("wrkspc_b", "Support"),
        ("wrkspc_c", "Sales"),
    ]
    assert body["data"][0]["type"] == "workspace"
    assert body["data"][0]["archived_at"] is None
    assert body["data"][0]["created_at"].endswith("Z")
    assert (body["has_more"], body["first_id"], body["last_id"]) == (False, "wrkspc_a", "wrkspc_c")
    assert api(WORKSPACES, {"include_archived": "true"}).json()["data"] == body["data"]


def test_workspace_pages_by_after_and_before_id(api, named):
    first = api(WORKSPACES, {"limit": "2"}).json()
    assert [w["id"] for w in first["data"]] == ["wrkspc_a", "wrkspc_b"]
    assert first["has_more"] is True
    second = api(WORKSPACES, {"limit": "2", "after_id": first["last_id"]}).json()
    assert [w["id"] for w in second["data"]] == ["wrkspc_c"]
    assert second["has_more"] is False
    back = api(WORKSPACES, {"limit": "1", "before_id": "wrkspc_c"}).json()
    assert [w["id"] for w in back["data"]] == ["wrkspc_b"]
    assert back["has_more"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"after_id": "wrkspc_zzz"},
        {"include_archived": "perhaps"},
    ],
)
def test_bad_list_parameters_are_400(api, named, params):
    response = api(WORKSPACES, params)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_one_workspace_and_an_unknown_one(api, named):
    assert api(f"{WORKSPACES}/wrkspc_b").json()["name"] == "Support"
    missing = api(f"{WORKSPACES}/wrkspc_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


def test_api_keys_with_names_status_and_workspace(api, named):
    body = api(API_KEYS).json()
    assert [(k["id"], k["name"], k["status"], k["workspace_id"]) for k in body["data"]] == [
        ("apikey_1", "backend", "active", "wrkspc_a"),
        ("apikey_2", "console", "inactive", None),
    ]
    key = body["data"][0]
    assert key["type"] == "api_key"
    assert key["partial_key_hint"] is None
    assert key["created_by"] == {"id": None, "type": "user"}
    assert [k["id"] for k in api(API_KEYS, {"status": "inactive"}).json()["data"]] == ["apikey_2"]
    assert api(API_KEYS, {"status": "archived"}).json()["data"] == []
    assert [k["id"] for k in api(API_KEYS, {"workspace_id": "wrkspc_a"}).json()["data"]] == [
        "apikey_1"
    ]
    assert api(API_KEYS, {"status": "deleted"}).status_code == 400


def test_one_api_key_and_an_unknown_one(api, named, other_org):
    assert api(f"{API_KEYS}/apikey_2").json()["status"] == "inactive"
    factories.make_api_key(other_org, None, "theirs", "apikey_theirs")
    assert api(f"{API_KEYS}/apikey_theirs").status_code == 404
