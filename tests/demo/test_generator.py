import dataclasses
import datetime as dt
import hashlib
import inspect
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from demo import generator
from usage.ingest.contract import check_record

END = dt.datetime(2026, 3, 4, 15, 27, 31, 250_000, tzinfo=dt.UTC)  # a Wednesday afternoon
RECORD_KEYS = {
    "request_id",
    "timestamp",
    "workspace_id",
    "workspace_name",
    "api_key_id",
    "api_key_name",
    "model",
    "service_tier",
    "status_code",
    "rate_limit_type",
    "usage",
    "code_execution_seconds",
}
USAGE_KEYS = {
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "cache_read_input_tokens",
    "server_tool_use",
}


def instant(record) -> dt.datetime:
    return dt.datetime.fromisoformat(record["timestamp"]).astimezone(dt.UTC)


def input_total(record) -> int:
    usage = record["usage"]
    return (
        usage["input_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )


@pytest.fixture(scope="module")
def default_records():
    """The default size (90 days), as make run loads it."""
    return list(generator.generate(generator.DemoSpec(end=END)))


def test_generate_streams():
    records = generator.generate(generator.DemoSpec(days=1, rate=10, end=END))
    assert inspect.isgenerator(records)


def test_same_seed_same_records_and_another_seed_differs():
    spec = generator.DemoSpec(days=3, rate=40, seed=7, end=END)
    first = list(generator.generate(spec))
    assert first == list(generator.generate(spec))
    other = list(generator.generate(generator.DemoSpec(days=3, rate=40, seed=8, end=END)))
    assert len(other) == len(first)
    assert {r["request_id"] for r in other}.isdisjoint(r["request_id"] for r in first)
    assert [r["usage"] for r in other] != [r["usage"] for r in first]
    assert [r["timestamp"] for r in other] != [r["timestamp"] for r in first]


def test_same_records_in_other_processes():
    # Nothing may depend on the per-process string hash seed (set iteration, hash()).
    script = (
        "import datetime as dt, hashlib, json\n"
        "from demo import generator\n"
        f"end = dt.datetime.fromisoformat({END.isoformat()!r})\n"
        "records = list(generator.generate(generator.DemoSpec(days=2, rate=30, seed=5, end=end)))\n"
        "print(hashlib.sha256(json.dumps(records).encode()).hexdigest())\n"
    )
    here = list(generator.generate(generator.DemoSpec(days=2, rate=30, seed=5, end=END)))
    expected = hashlib.sha256(json.dumps(here).encode()).hexdigest()
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == expected


def test_request_ids_follow_the_spec_but_not_its_end():
    def ids(**spec):
        return {r["request_id"] for r in generator.generate(generator.DemoSpec(days=3, **spec))}

    small = ids(rate=40, end=END)
    # Run again an hour later: the same requests, absorbed by de-duplication.
    assert ids(rate=40, end=END + dt.timedelta(hours=1)) == small
    # Another size, catalogue or seed: new requests.
    assert ids(rate=50, end=END).isdisjoint(small)
    assert ids(rate=40, keys=20, end=END).isdisjoint(small)
    assert ids(rate=40, seed=2, end=END).isdisjoint(small)


def test_default_size_and_shape(default_records):
    assert (
        len(default_records)
        == generator.total_requests(generator.DemoSpec())
        == round(generator.DEFAULT_RATE * 24 * 90)
    )
    assert 100_000 <= len(default_records) <= 200_000
    for record in default_records[:2000]:
        assert set(record) == RECORD_KEYS
        assert set(record["usage"]) == USAGE_KEYS
        assert set(record["usage"]["cache_creation"]) == {
            "ephemeral_5m_input_tokens",
            "ephemeral_1h_input_tokens",
        }
        assert set(record["usage"]["server_tool_use"]) == {"web_search_requests"}


def test_every_record_passes_ingest_validation(default_records):
    latest = END + dt.timedelta(minutes=5)
    for record in default_records:
        checked = check_record(record, latest)
        assert checked[0] == record["request_id"]
        assert checked[1] == instant(record)


def test_request_ids_are_unique(default_records):
    ids = [r["request_id"] for r in default_records]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("req_") for i in ids[:100])


def test_period_ends_at_end_and_is_in_time_order(default_records):
    instants = [instant(r) for r in default_records]
    assert instants == sorted(instants)
    assert instants[0] >= END - dt.timedelta(days=90)
    assert instants[-1] < END
    assert instants[-1] > END - dt.timedelta(hours=1)
    assert instants[0] < END - dt.timedelta(days=89)


def test_never_in_the_future():
    now = dt.datetime.now(dt.UTC)
    spec = generator.DemoSpec(days=1, rate=200, end=now + dt.timedelta(days=3))
    last = max(instant(r) for r in generator.generate(spec))
    assert now - dt.timedelta(hours=1) < last <= dt.datetime.now(dt.UTC)


def test_exact_number_of_requests():
    spec = generator.DemoSpec(days=30, requests=12_345, workspaces=5, keys=100, models=8, end=END)
    assert generator.total_requests(spec) == 12_345
    assert sum(1 for _ in generator.generate(spec)) == 12_345
    assert list(generator.generate(generator.DemoSpec(days=2, requests=0, end=END))) == []


def test_weekdays_are_busier_than_weekends(default_records):
    team = dt.timedelta(minutes=generator.DEFAULT_TEAM_UTC_OFFSET_MINUTES)
    by_date = Counter((instant(r) + team).date() for r in default_records)
    full_days = sorted(by_date)[1:-1]  # the first and last local days are partial
    weekday = [by_date[d] for d in full_days if d.weekday() < 5]
    weekend = [by_date[d] for d in full_days if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.5 * sum(weekend) / len(weekend)


def test_working_hours_are_busier_than_nights(default_records):
    team = dt.timedelta(minutes=generator.DEFAULT_TEAM_UTC_OFFSET_MINUTES)
    by_hour = Counter()
    for record in default_records:
        local = instant(record) + team
        if local.weekday() < 5:
            by_hour[local.hour] += 1
    working = sum(by_hour[h] for h in range(10, 17)) / 7
    night = sum(by_hour[h] for h in (21, 22, 23, 0)) / 4
    assert working > 2 * night
    # The nightly batch pipeline runs at 1-5 in the morning, on the batch tier.
    batch = Counter(
        (instant(r) + team).hour for r in default_records if r["service_tier"] == "batch"
    )
    assert sum(batch[h] for h in range(1, 5)) > 0.6 * sum(batch.values())


def test_bursts_pack_minutes(default_records):
    per_minute = Counter(instant(r).replace(second=0, microsecond=0) for r in default_records)
    typical = sorted(per_minute.values())[len(per_minute) // 2]
    assert max(per_minute.values()) > 8 * typical


def test_tiers_long_context_tools_and_caches(default_records):
    tiers = Counter(r["service_tier"] for r in default_records)
    assert set(tiers) == {"standard", "batch", "priority"}
    assert tiers["batch"] > 0.03 * len(default_records)
    assert tiers["priority"] > 0.03 * len(default_records)
    long = [r for r in default_records if input_total(r) > 200_000]
    assert len(long) >= 100
    assert {r["model"] for r in long} <= generator.LONG_CONTEXT_MODELS
    usage = [r["usage"] for r in default_records]
    assert sum(1 for u in usage if u["server_tool_use"]["web_search_requests"]) >= 1000
    assert sum(1 for r in default_records if r["code_execution_seconds"]) >= 500
    assert sum(1 for u in usage if u["cache_read_input_tokens"]) > len(usage) / 3
    assert sum(1 for u in usage if u["cache_creation"]["ephemeral_5m_input_tokens"]) >= 1000
    assert sum(1 for u in usage if u["cache_creation"]["ephemeral_1h_input_tokens"]) >= 1000
    for u in usage:
        assert u["cache_creation_input_tokens"] == (
            u["cache_creation"]["ephemeral_5m_input_tokens"]
            + u["cache_creation"]["ephemeral_1h_input_tokens"]
        )


def test_a_few_hundred_429s_of_each_limit_type(default_records):
    limited = Counter(r["rate_limit_type"] for r in default_records if r["status_code"] == 429)
    assert set(limited) == {"requests", "input_tokens", "output_tokens"}
    for count in limited.values():
        assert 150 <= count <= 1000
    for record in default_records:
        assert (record["status_code"] == 429) == (record["rate_limit_type"] is not None)
        if record["status_code"] == 429:
            assert input_total(record) == record["usage"]["output_tokens"] == 0


def test_usage_without_key_and_in_default_workspace(default_records):
    without_key = [r for r in default_records if r["api_key_id"] is None]
    in_default = [r for r in default_records if r["workspace_id"] is None]
    assert len(without_key) > 500
    assert len(in_default) > 500
    assert any(r["workspace_id"] is None for r in without_key)
    assert any(r["workspace_id"] is not None for r in without_key)
    assert any(r["api_key_id"] is not None for r in in_default)
    assert all(r["api_key_name"] is None for r in without_key)
    assert all(r["workspace_name"] is None for r in in_default)


def test_timestamps_in_several_offsets(default_records):
    suffixes = Counter(
        "Z" if r["timestamp"].endswith("Z") else r["timestamp"][-6:] for r in default_records
    )
    assert {"Z", "+05:30", "-05:00"} <= set(suffixes)


def test_records_match_the_catalogue():
    spec = generator.DemoSpec(days=30, requests=60_000, workspaces=5, keys=100, models=8, end=END)
    catalogue = generator.build_catalogue(spec)
    assert len(catalogue.workspaces) == 5
    assert len(catalogue.keys) == 100
    assert len({k.external_id for k in catalogue.keys}) == 100
    assert len(catalogue.models) == 8
    assert set(catalogue.models) <= set(generator.MODEL_CATALOGUE)
    key_workspace = {k.external_id: k.workspace_id for k in catalogue.keys}
    key_name = {k.external_id: k.name for k in catalogue.keys}
    workspace_name = {w.external_id: w.name for w in catalogue.workspaces}
    seen_keys, seen_workspaces, seen_models = set(), set(), set()
    for record in generator.generate(spec):
        key = record["api_key_id"]
        if key is not None:
            assert record["workspace_id"] == key_workspace[key]  # a key has one workspace
            assert record["api_key_name"] == key_name[key]
            seen_keys.add(key)
        if record["workspace_id"] is not None:
            assert record["workspace_name"] == workspace_name[record["workspace_id"]]
        seen_workspaces.add(record["workspace_id"])
        seen_models.add(record["model"])
    assert seen_keys == set(key_workspace)
    assert seen_workspaces == {None, *workspace_name}
    assert seen_models == set(catalogue.models)


def test_catalogue_does_not_depend_on_the_seed():
    one = generator.build_catalogue(generator.DemoSpec(seed=1))
    two = generator.build_catalogue(generator.DemoSpec(seed=2))
    assert one == two
    assert one.workspaces[0].external_id.startswith("wrkspc_01")
    assert one.keys[0].external_id.startswith("apikey_01")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_stays_flat_while_streaming():
    # In a fresh process, whose peak resident size (VmHWM, reset by exec unlike ru_maxrss)
    # is the generator's alone.
    script = (
        "import datetime as dt, re\n"
        "from demo import generator\n"
        f"end = dt.datetime.fromisoformat({END.isoformat()!r})\n"
        "spec = generator.DemoSpec(days=7, requests=200_000, end=end)\n"
        "count = sum(1 for _ in generator.generate(spec))\n"
        "status = open('/proc/self/status').read()\n"
        "print(count, re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert int(out[0]) == 200_000
    # Held at once, 200,000 records would take about 300 MB.
    assert int(out[1]) < 80 * 1024  # kB


@pytest.mark.parametrize(
    "bad",
    [
        {"days": 0},
        {"rate": -1},
        {"requests": -5},
        {"models": 0},
        {"models": len(generator.MODEL_CATALOGUE) + 1},
        {"seed": -1},
        {"account_keys": -1},
        {"end": dt.datetime(2026, 1, 1)},  # naive
    ],
)
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        generator.DemoSpec(**bad)


def test_accounts_spread_requests_over_people_and_a_few_services():
    spec = generator.DemoSpec(days=2, requests=5000, accounts=100, end=END)
    catalogue = generator.build_catalogue(spec)
    assert len({a.external_id for a in catalogue.accounts}) == 100
    services = [a for a in catalogue.accounts if a.is_service]
    assert len(services) == 4 and all(a.external_id.startswith("svc-") for a in services)
    people = [a for a in catalogue.accounts if not a.is_service]
    assert all(a.external_id.endswith("@example.com") and " " in a.name for a in people)
    named = {a.external_id: a.name for a in catalogue.accounts}
    seen = Counter()
    for record in generator.generate(spec):
        assert named[record["account_id"]] == record["account_name"]
        seen[record["account_id"]] += 1
    assert sum(seen.values()) == 5000
    assert len(seen) > 50  # spread, yet a few carry most
    assert seen.most_common(10)[-1][1] > 5000 / 100


def test_no_accounts_unless_asked():
    spec = generator.DemoSpec(days=1, requests=300, end=END)
    assert all("account_id" not in record for record in generator.generate(spec))


def test_accounts_drawn_independently_of_keys_are_todays_records_bit_for_bit():
    # account_keys=0 is the draw every earlier benchmark run measured: the same records, byte
    # for byte, as before the option existed (digest taken from the generator at 04872f3).
    spec = generator.DemoSpec(
        days=2, requests=4000, workspaces=5, keys=100, models=8, accounts=60, seed=3, end=END
    )
    assert spec == dataclasses.replace(spec, account_keys=0)
    records = list(generator.generate(spec))
    assert (
        hashlib.sha256(json.dumps(records).encode()).hexdigest()
        == "6cdff52a556c174724316f3213bc122f8ca22bd28938d5bbe122ca0720503991"
    )
    keys_of = {}
    for record in records:
        if record["api_key_id"]:
            keys_of.setdefault(record["account_id"], set()).add(record["api_key_id"])
    assert max(len(keys) for keys in keys_of.values()) > 10  # the worst case it names


ACCOUNT_KEYS_SPEC = generator.DemoSpec(
    days=3, requests=30_000, workspaces=5, keys=100, models=8, accounts=200, end=END
)


@pytest.mark.parametrize("per_account", [1, 3])
def test_each_account_uses_at_most_n_of_its_keys(per_account):
    spec = dataclasses.replace(ACCOUNT_KEYS_SPEC, account_keys=per_account)
    catalogue = generator.build_catalogue(spec)
    own = {a.external_id: set(a.key_ids) for a in catalogue.accounts}
    assert all(1 <= len(keys) <= per_account for keys in own.values())
    records = list(generator.generate(spec))
    assert len(records) == generator.total_requests(spec) == 30_000
    used: dict[str, set] = {}
    without_key = 0
    for record in records:
        if record["api_key_id"] is None:
            without_key += 1
        else:
            used.setdefault(record["account_id"], set()).add(record["api_key_id"])
    assert all(keys <= own[account] for account, keys in used.items())
    assert max(len(keys) for keys in used.values()) == per_account
    assert without_key > 300  # console use names a person and no key, as before
    # Still spread over people and services, a few carrying the most.
    senders = Counter(r["account_id"] for r in records)
    assert len(senders) > 150
    assert sum(n for _a, n in senders.most_common(20)) > 0.3 * len(records)
    assert {a for a in senders if a.startswith("svc-")}


def test_account_keys_are_the_accounts_own_and_follow_the_spec():
    spec = dataclasses.replace(ACCOUNT_KEYS_SPEC, requests=3000, account_keys=3)
    first = list(generator.generate(spec))
    assert first == list(generator.generate(spec))
    # An account keeps its keys whatever the seed; its requests are new ones.
    other_seed = dataclasses.replace(spec, seed=2)
    assert generator.build_catalogue(other_seed) == generator.build_catalogue(spec)
    independent = dataclasses.replace(spec, account_keys=0)
    assert {r["request_id"] for r in generator.generate(independent)}.isdisjoint(
        r["request_id"] for r in first
    )
    # People work through a key of each persona they drive (Claude Code, research, evals).
    catalogue = generator.build_catalogue(spec)
    persona_of = {k.external_id: k.persona for k in catalogue.keys}
    person = next(a for a in catalogue.accounts if not a.is_service)
    assert sorted(persona_of[k] for k in person.key_ids) == ["claude_code", "evals", "research"]


def test_fewer_series_with_few_keys_per_account():
    def series(spec) -> int:
        return len(
            {
                (r["account_id"], r["api_key_id"], r["model"], r["service_tier"])
                for r in generator.generate(spec)
            }
        )

    independent = series(ACCOUNT_KEYS_SPEC)
    assert series(dataclasses.replace(ACCOUNT_KEYS_SPEC, account_keys=3)) < independent / 2
