import dataclasses
import datetime as dt
import gzip
import io
import json
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from accounts.models import Membership, Role, User
from console.models import Account, ApiKey, LlmModel, Organization, Workspace
from demo import generator
from demo.management.commands.seed_demo import DEMO_PASSWORD, MEMBERS
from tests import factories
from tests.usage.rawrows import expected_buckets, raw_rows_of, stored_buckets
from usage.ingest.contract import check_record
from usage.models import IngestBatch, RateLimit, RequestLog

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 3, 4, 15, 27, 31, tzinfo=dt.UTC)
SMALL = ["--days", "3", "--rate", "40", "--end", END.isoformat()]
SMALL_SPEC = generator.DemoSpec(days=3, rate=40, end=END, accounts=generator.DEFAULT_ACCOUNTS)
STRONG = "plum-vortex-harbour-1987"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def raw_totals(org) -> dict:
    rows = RequestLog.objects.filter(org=org)
    totals = rows.aggregate(
        uncached=Sum("uncached_input_tokens"),
        write_5m=Sum("cache_write_5m_tokens"),
        write_1h=Sum("cache_write_1h_tokens"),
        read=Sum("cache_read_tokens"),
        output=Sum("output_tokens"),
        searches=Sum("web_search_requests"),
        code_ms=Sum("code_execution_ms"),
    )
    totals["requests"] = rows.count()
    totals["limited"] = Counter(
        rows.filter(status_code=429).values_list("rate_limit_type", flat=True)
    )
    return totals


def generated_totals(spec) -> dict:
    totals = Counter()
    limited = Counter()
    for record in generator.generate(spec):
        usage = record["usage"]
        totals["requests"] += 1
        totals["uncached"] += usage["input_tokens"]
        totals["write_5m"] += usage["cache_creation"]["ephemeral_5m_input_tokens"]
        totals["write_1h"] += usage["cache_creation"]["ephemeral_1h_input_tokens"]
        totals["read"] += usage["cache_read_input_tokens"]
        totals["output"] += usage["output_tokens"]
        totals["searches"] += usage["server_tool_use"]["web_search_requests"]
        totals["code_ms"] += record["code_execution_seconds"] * 1000
        if record["status_code"] == 429:
            limited[record["rate_limit_type"]] += 1
    return {**totals, "limited": limited}


def test_creates_one_member_per_role_with_the_announced_password():
    out, err = seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    memberships = Membership.objects.filter(org=org).select_related("user")
    assert {m.role for m in memberships} == set(Role.values)
    assert {m.user.email for m in memberships} == {
        "admin@demo.test",
        "billing@demo.test",
        "developer@demo.test",
        "user@demo.test",
        "claude-code@demo.test",
    }
    for membership in memberships:
        assert membership.user.check_password(DEMO_PASSWORD)
    for role, email, _name in MEMBERS:
        line = next(line for line in out.splitlines() if email in line)
        assert Role(role).label in line
        assert DEMO_PASSWORD in line
    assert out.count(DEMO_PASSWORD) == len(MEMBERS)  # printed once per role
    assert "requests" in err  # progress goes to stderr


def test_creates_workspaces_keys_models_and_limits():
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    catalogue = generator.build_catalogue(SMALL_SPEC)
    workspaces = Workspace.objects.filter(org=org, is_default=False)
    assert workspaces.count() == len(catalogue.workspaces) >= 3
    assert set(workspaces.values_list("external_id", "name")) == {
        (w.external_id, w.name) for w in catalogue.workspaces
    }
    keys = ApiKey.objects.filter(org=org)
    assert keys.count() == len(catalogue.keys) >= 10
    assert all(k.created_by.email == "admin@demo.test" for k in keys)
    assert keys.filter(workspace__is_default=True).exists()
    models = set(catalogue.models)
    assert len(models) >= 5
    assert models <= set(LlmModel.objects.values_list("model_id", flat=True))
    limited_models = set(
        RateLimit.objects.filter(org=org).values_list("model__model_id", flat=True)
    )
    assert limited_models == models


def test_logs_go_through_ingest_and_match_the_generator():
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    assert raw_totals(org) == generated_totals(SMALL_SPEC)
    batches = IngestBatch.objects.filter(org=org)
    assert set(batches.values_list("source", flat=True)) == {IngestBatch.Source.DEMO}
    assert batches.aggregate(n=Sum("accepted"))["n"] == generator.total_requests(SMALL_SPEC)
    assert not batches.filter(rolled_up_at__isnull=True).exists()
    rows = RequestLog.objects.filter(org=org)
    assert rows.filter(series__api_key__isnull=True).exists()
    assert rows.filter(series__workspace__is_default=True).exists()


def test_buckets_equal_an_independent_sum_of_the_raw_rows():
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    rows = raw_rows_of(org)
    assert len(rows) == generator.total_requests(SMALL_SPEC)
    for unit in ("minute", "hour", "day"):
        assert stored_buckets(org, unit) == expected_buckets(rows, unit), unit


def test_running_again_changes_nothing():
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    before = (
        User.objects.count(),
        Membership.objects.count(),
        Workspace.objects.filter(org=org).count(),
        ApiKey.objects.filter(org=org).count(),
        RateLimit.objects.filter(org=org).count(),
        raw_totals(org),
        stored_buckets(org, "hour"),
    )
    out, _err = seed(*SMALL)
    after = (
        User.objects.count(),
        Membership.objects.count(),
        Workspace.objects.filter(org=org).count(),
        ApiKey.objects.filter(org=org).count(),
        RateLimit.objects.filter(org=org).count(),
        raw_totals(org),
        stored_buckets(org, "hour"),
    )
    assert after == before
    total = generator.total_requests(SMALL_SPEC)
    assert f"0 new, {total:,} already present" in out
    assert Organization.objects.filter(slug="demo").count() == 1


def test_another_seed_adds_traffic_to_the_same_workspaces_and_keys():
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    workspaces = set(Workspace.objects.filter(org=org).values_list("pk", flat=True))
    keys = set(ApiKey.objects.filter(org=org).values_list("pk", flat=True))
    seed(*SMALL, "--seed", "2")
    assert RequestLog.objects.filter(org=org).count() == 2 * generator.total_requests(SMALL_SPEC)
    assert set(Workspace.objects.filter(org=org).values_list("pk", flat=True)) == workspaces
    assert set(ApiKey.objects.filter(org=org).values_list("pk", flat=True)) == keys


def test_renamed_workspaces_and_keys_keep_their_names():
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    workspace = Workspace.objects.filter(org=org, is_default=False).first()
    workspace.name = "Renamed by an Admin"
    workspace.save()
    seed(*SMALL, "--seed", "3")
    workspace.refresh_from_db()
    assert workspace.name == "Renamed by an Admin"


def test_exact_number_of_requests_and_sizes():
    seed("--days", "2", "--requests", "1234", "--workspaces", "5", "--keys", "20",
         "--models", "8", "--end", END.isoformat())  # fmt: skip
    org = Organization.objects.get(slug="demo")
    assert RequestLog.objects.filter(org=org).count() == 1234
    assert Workspace.objects.filter(org=org, is_default=False).count() == 5
    assert ApiKey.objects.filter(org=org).count() == 20


def test_if_empty_does_nothing_when_an_organisation_exists():
    factories.make_org("acme", "Acme")
    out, _err = seed("--if-empty", *SMALL)
    assert not Organization.objects.filter(slug="demo").exists()
    assert not User.objects.exists()
    assert not RequestLog.objects.exists()
    assert "nothing" in out


def test_if_empty_seeds_an_empty_installation():
    seed("--if-empty", *SMALL)
    assert Organization.objects.get(slug="demo")
    assert RequestLog.objects.count() == generator.total_requests(SMALL_SPEC)


def test_other_slug():
    seed("--org", "sandbox", *SMALL)
    org = Organization.objects.get(slug="sandbox")
    assert RequestLog.objects.filter(org=org).count() == generator.total_requests(SMALL_SPEC)
    assert Membership.objects.filter(org=org).count() == len(MEMBERS)


# Outside dev mode the command does not exist: tests/console/test_settings.py shows it.
def test_a_chosen_password():
    out, _err = seed(*SMALL, "--password", STRONG)
    assert DEMO_PASSWORD not in out
    for membership in Membership.objects.select_related("user"):
        assert membership.user.check_password(STRONG)
        assert not membership.user.check_password(DEMO_PASSWORD)


@pytest.mark.parametrize(
    "args",
    [
        ["--workspaces", "2"],
        ["--keys", "9"],
        ["--models", "4"],
        ["--models", str(len(generator.MODEL_CATALOGUE) + 1)],
        ["--days", "0"],
        ["--days", "-3"],
        ["--rate", "-1"],
        ["--rate", "nan"],
        ["--org", "not a slug"],
        ["--end", "2026-03-04T10:00:00"],  # no offset
    ],
)
def test_refuses_bad_options(args):
    with pytest.raises(CommandError):
        seed(*SMALL, *args)
    assert not Organization.objects.exists()


def test_skip_rollup_leaves_the_batches_pending(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        seed(*SMALL, "--skip-rollup")
    assert callbacks == []  # no rollup task asked for either
    org = Organization.objects.get(slug="demo")
    assert IngestBatch.objects.filter(org=org, rolled_up_at__isnull=True).exists()
    assert not stored_buckets(org, "hour")


def test_jsonl_output_instead_of_ingesting(tmp_path):
    path = tmp_path / "demo.jsonl.gz"
    out, _err = seed(*SMALL, "--jsonl", str(path))
    assert not RequestLog.objects.exists()
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    assert records == list(generator.generate(SMALL_SPEC))
    latest = END + dt.timedelta(minutes=5)
    for record in records:
        check_record(record, latest)
    assert f"Wrote {len(records):,} records" in out


def test_requests_name_their_accounts_and_every_demo_login_has_usage_of_its_own(client):
    seed(*SMALL)
    org = Organization.objects.get(slug="demo")
    accounts = Account.objects.filter(org=org)
    assert accounts.count() == len(generator.build_catalogue(SMALL_SPEC).accounts) == 40
    assert accounts.filter(external_id__startswith="svc-", email="").exists()
    assert accounts.exclude(email="").count() >= 30  # people: their email is their id
    rows = RequestLog.objects.filter(org=org)
    assert rows.filter(series__account__isnull=True).count() == 0
    for _role, email, _name in MEMBERS:
        mine = accounts.get(member__email=email)
        client.force_login(User.objects.get(email=email))
        page = client.get("/me/usage/", {"month": "2026-03", "tz": "UTC"}).content.decode()
        assert mine.label in page and 'data-total="cost"' in page


def test_account_keys_limits_the_keys_each_account_uses():
    seed(*SMALL, "--account-keys", "2")
    org = Organization.objects.get(slug="demo")
    spec = dataclasses.replace(SMALL_SPEC, account_keys=2)
    assert RequestLog.objects.filter(org=org).count() == generator.total_requests(spec)
    keys_per_account = Counter(
        dict(
            RequestLog.objects.filter(org=org, series__api_key__isnull=False)
            .values_list("series__account__external_id")
            .annotate(keys=Count("series__api_key", distinct=True))
        )
    )
    assert len(keys_per_account) > 20
    assert max(keys_per_account.values()) == 2
    own = {a.external_id: set(a.key_ids) for a in generator.build_catalogue(spec).accounts}
    stored = RequestLog.objects.filter(org=org, series__api_key__isnull=False).values_list(
        "series__account__external_id", "series__api_key__external_id"
    )
    assert all(key in own[account] for account, key in stored.distinct())
