"""A generated month of request logs sent through the ingest API, and its independent cost.

Two batches: the second repeats some request ids of the first (duplicates, with other counts
that must not be stored) and brings late rows for hours already rolled up. Prices are the
organisation's own (typed in below); the expected figures are computed from the records
alone, with Fractions, after dropping duplicates.
"""

import datetime as dt
import io
import json
import random
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from django.core.management import call_command

from costs.models import ModelPrice, ToolPrice
from usage.rollups import rollup_pending

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
# (model, tier) -> USD per million: input, 5m write, 1h write, cache read, output
PRICES = {
    (SONNET, "standard"): ("3", "3.75", "6", "0.3", "15"),
    (SONNET, "batch"): ("1.5", "1.875", "3", "0.15", "7.5"),
    (SONNET, "priority"): ("4.5", "5", "8", "0.45", "22"),
    (HAIKU, "standard"): ("1", "1.25", "2", "0.1", "5"),
    (HAIKU, "batch"): ("0.5", "0.625", "1", "0.05", "2.5"),
    (HAIKU, "priority"): ("1.5", "1.75", "2.5", "0.15", "7.5"),
}
WEB_SEARCH_PER_1000 = Fraction(10)
WORKSPACES = [None, "wrkspc_research", "wrkspc_support"]
KEYS = {None: [None], "wrkspc_research": ["apikey_r1", None], "wrkspc_support": ["apikey_s1"]}


def install_prices(org) -> None:
    for (model, tier), rates in PRICES.items():
        for window in ("0-200k", "200k-1M"):
            ModelPrice.objects.create(
                org=org,
                model_pattern=model,
                service_tier=tier,
                context_window=window,
                effective_from=dt.date(2026, 1, 1),
                input_per_mtok=Decimal(rates[0]),
                cache_write_5m_per_mtok=Decimal(rates[1]),
                cache_write_1h_per_mtok=Decimal(rates[2]),
                cache_read_per_mtok=Decimal(rates[3]),
                output_per_mtok=Decimal(rates[4]),
            )
    ToolPrice.objects.create(
        org=org, kind="web_search", effective_from=dt.date(2026, 1, 1), unit_price=Decimal(10)
    )


def _record(rng: random.Random, n: int, moment: dt.datetime) -> dict:
    workspace = rng.choice(WORKSPACES)
    write_5m, write_1h = rng.randrange(0, 3000), rng.randrange(0, 2000)
    return {
        "request_id": f"req_gen_{n:06d}",
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "workspace_id": workspace,
        "workspace_name": workspace and workspace.split("_")[1].title(),
        "api_key_id": rng.choice(KEYS[workspace]),
        "model": rng.choice([SONNET, HAIKU]),
        "service_tier": rng.choice(["standard", "standard", "batch", "priority"]),
        "usage": {
            "input_tokens": rng.randrange(0, 250_000),
            "output_tokens": rng.randrange(0, 9_000),
            "cache_creation_input_tokens": write_5m + write_1h,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write_5m,
                "ephemeral_1h_input_tokens": write_1h,
            },
            "cache_read_input_tokens": rng.randrange(0, 40_000),
            "server_tool_use": {"web_search_requests": rng.randrange(0, 3)},
        },
    }


def generate(seed: int = 14, count: int = 400) -> tuple[list[dict], list[dict]]:
    """(first batch, second batch) over November 2026 (UTC)."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    moments = sorted(
        start + dt.timedelta(seconds=rng.randrange(0, 30 * 86400)) for _ in range(count)
    )
    records = [_record(rng, n, m) for n, m in enumerate(moments)]
    # The second batch: the last quarter of the month's records arrive late, shuffled among
    # earlier hours, plus duplicates of first-batch ids carrying other counts.
    late = records[: count // 4]
    first = records[count // 4 :]
    duplicates = []
    for original in rng.sample(first, 25):
        copy = json.loads(json.dumps(original))
        copy["usage"]["output_tokens"] += 1_000_000
        duplicates.append(copy)
    second = late + duplicates
    rng.shuffle(second)
    return first, second


def send(client, org, batches) -> None:
    """Post each batch to the ingest API with a fresh ingest key, rolling up after each."""
    out = io.StringIO()
    call_command(
        "create_ingest_key", "--org", org.slug, "--name", "gen", stdout=out, stderr=io.StringIO()
    )
    secret = out.getvalue().strip()
    for batch in batches:
        response = client.post(
            "/api/v1/logs",
            json.dumps(batch),
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response.status_code == 200, response.content
        assert response.json()["rejected"] == 0, response.json()
        rollup_pending(org_id=org.id)


def unique(batches) -> list[dict]:
    """The records that count: the first of each request id."""
    seen = {}
    for batch in batches:
        for record in batch:
            seen.setdefault(record["request_id"], record)
    return list(seen.values())


def counts(record) -> dict:
    usage = record["usage"]
    cache = usage["cache_creation"]
    return {
        "uncached_input_tokens": usage["input_tokens"],
        "cache_write_5m_tokens": cache["ephemeral_5m_input_tokens"],
        "cache_write_1h_tokens": cache["ephemeral_1h_input_tokens"],
        "cache_read_tokens": usage["cache_read_input_tokens"],
        "output_tokens": usage["output_tokens"],
        "web_search_requests": usage["server_tool_use"]["web_search_requests"],
    }


def day_of(record) -> dt.date:
    return dt.datetime.fromisoformat(record["timestamp"]).astimezone(dt.UTC).date()


def usd(record) -> Fraction:
    """The exact cost of one record at the prices above."""
    rates = PRICES[(record["model"], record["service_tier"] or "standard")]
    c = counts(record)
    fields = (
        "uncached_input_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_tokens",
        "output_tokens",
    )
    total = sum(
        Fraction(c[f]) * Fraction(r) / 1_000_000 for f, r in zip(fields, rates, strict=True)
    )
    return total + Fraction(c["web_search_requests"]) * WEB_SEARCH_PER_1000 / 1000


def by_day_and(records, key) -> dict:
    """{(UTC date, key(record)): summed counts}."""
    sums = defaultdict(lambda: defaultdict(int))
    for record in records:
        for name, value in counts(record).items():
            sums[(day_of(record), key(record))][name] += value
    return {k: dict(v) for k, v in sums.items()}
