"""Writes for upstreams: add, edit, pause, delete (audited) and ``pull``, the import.

``pull`` reads settled minutes [position, now - settle delay), at most a day of minutes per
request, capped per run. Each day read is stored in one transaction that also moves the
position: every upstream minute result becomes one raw row through the ingest path, with a
request id made of the upstream, the minute and a digest of its dimensions, so a minute
read twice is a duplicate however the run ended. A run that fails keeps the position of the
last stored day and records the error; the next run resumes there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.models import Organization
from console.services import record_audit
from upstreams import crypto
from upstreams.client import (
    API_KEYS_PATH,
    MINUTE_LIMIT,
    WORKSPACES_PATH,
    Client,
    Result,
    UpstreamError,
)
from upstreams.models import Upstream
from usage.ingest.contract import CheckedRecord, Rejection
from usage.ingest.services import ingest_checked
from usage.models import ContextWindow, IngestBatch, RequestLog, ServiceTier

MINUTE = dt.timedelta(minutes=1)
SOURCE = IngestBatch.Source.UPSTREAM
TIERS = frozenset(ServiceTier.values)
WINDOWS = frozenset(ContextWindow.values)


def _hint(key: str) -> str:
    return key[-4:]


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


@transaction.atomic
def create_upstream(
    org: Organization, *, name: str, base_url: str, key: str, start: dt.datetime, actor
) -> Upstream:
    """Add an upstream that imports from ``start`` (its key stored encrypted)."""
    upstream = Upstream.objects.create(
        org=org,
        name=name,
        base_url=base_url,
        key_ciphertext=crypto.encrypt(key),
        key_hint=_hint(key),
        position=_minute(start),
        created_by=actor,
    )
    record_audit(
        org,
        actor,
        "upstream.create",
        target=name,
        after={"base_url": base_url, "from": start.isoformat(), "key_hint": _hint(key)},
    )
    return upstream


@transaction.atomic
def update_upstream(upstream: Upstream, *, name: str, base_url: str, key: str | None, actor):
    """Rename an upstream, point it elsewhere, or give it a new key (None keeps the key)."""
    before = {"name": upstream.name, "base_url": upstream.base_url, "key_hint": upstream.key_hint}
    upstream.name, upstream.base_url = name, base_url
    if key:
        upstream.key_ciphertext, upstream.key_hint = crypto.encrypt(key), _hint(key)
    upstream.save(update_fields=["name", "base_url", "key_ciphertext", "key_hint"])
    after = {"name": upstream.name, "base_url": upstream.base_url, "key_hint": upstream.key_hint}
    if before != after:
        record_audit(upstream.org, actor, "upstream.update", upstream.name, before, after)
    return upstream


@transaction.atomic
def set_paused(upstream: Upstream, paused: bool, *, actor) -> Upstream:
    """Pause an upstream's pulls, or resume them from where they stopped."""
    if upstream.paused != paused:
        upstream.paused = paused
        upstream.save(update_fields=["paused"])
        record_audit(
            upstream.org,
            actor,
            "upstream.pause" if paused else "upstream.resume",
            upstream.name,
            {"paused": not paused},
            {"paused": paused},
        )
    return upstream


@transaction.atomic
def delete_upstream(upstream: Upstream, *, actor) -> None:
    """Remove an upstream (and its key); the usage it imported stays."""
    record_audit(
        upstream.org,
        actor,
        "upstream.delete",
        upstream.name,
        {"base_url": upstream.base_url, "position": upstream.position.isoformat()},
        None,
    )
    upstream.delete()


def reencrypt_keys() -> int:
    """Encrypt every upstream key under the first UPSTREAM_KEYS_SECRET key; return how many."""
    count = 0
    for upstream in Upstream.objects.only("pk", "key_ciphertext"):
        Upstream.objects.filter(pk=upstream.pk).update(
            key_ciphertext=crypto.rotate(upstream.key_ciphertext)
        )
        count += 1
    return count


# ---------------------------------------------------------------------------------------
# The pull


@dataclass
class PullResult:
    """What one run did: minutes read, results stored and seen again, where it stopped."""

    minutes: int = 0
    imported: int = 0
    duplicates: int = 0
    position: dt.datetime | None = None
    error: str = ""


class Refused(UpstreamError):
    """A result this server cannot store as it is (a tier or window it does not know)."""


def settled_until(now: dt.datetime) -> dt.datetime:
    """The end of the last minute counted as settled at ``now``."""
    return _minute(now) - dt.timedelta(minutes=settings.UPSTREAM_SETTLE_MINUTES)


def client_for(upstream: Upstream) -> Client:
    return Client(
        upstream.base_url,
        crypto.decrypt(upstream.key_ciphertext),
        timeout=settings.UPSTREAM_TIMEOUT_SECONDS,
        max_retry_after=settings.UPSTREAM_MAX_RETRY_AFTER_SECONDS,
    )


def pull(upstream: Upstream, now: dt.datetime | None = None, client: Client | None = None):
    """Import the upstream's settled minutes from its position on; record success or error.

    Returns a ``PullResult``. Safe to run twice at once: each day's transaction locks the
    upstream and stores nothing when another run moved its position meanwhile.
    """
    now = now or timezone.now()
    result = PullResult(position=upstream.position)
    end = min(
        settled_until(now),
        upstream.position + settings.UPSTREAM_MAX_MINUTES_PER_RUN * MINUTE,
    )
    start = upstream.position
    try:
        client = client or client_for(upstream)
        # Names are read only when there is a settled minute to import.
        names = _names(client) if start < end else {}
        while start < end:
            stop = min(end, start + MINUTE_LIMIT * MINUTE)
            records = _records(upstream, client.usage_minutes(start, stop), start, stop, names)
            if not _store(upstream, start, stop, records, result):
                break  # another run moved the position: it goes on from there
            result.minutes += int((stop - start) / MINUTE)
            start = stop
    except (UpstreamError, crypto.KeysSecretMissing, crypto.InvalidToken) as exc:
        message = str(exc) or "the stored key cannot be decrypted with UPSTREAM_KEYS_SECRET"
        result.error = message
        Upstream.objects.filter(pk=upstream.pk).update(
            last_run_at=timezone.now(), last_error_at=timezone.now(), last_error=message[:2000]
        )
        return result
    Upstream.objects.filter(pk=upstream.pk).update(
        last_run_at=timezone.now(), last_success_at=timezone.now(), last_error=""
    )
    return result


def _names(client: Client) -> dict:
    """{"workspaces": {id: name}, "keys": {id: name}} from the upstream's lists, when it has
    them (a server without the lists leaves the ids as names)."""
    found: dict[str, dict] = {"workspaces": {}, "keys": {}}
    for kind, path in (("workspaces", WORKSPACES_PATH), ("keys", API_KEYS_PATH)):
        try:
            found[kind] = {item.id: item.name for item in client.names(path) if item.name}
        except UpstreamError as exc:
            if exc.status not in (403, 404):
                raise
    return found


def request_id(upstream: Upstream, minute: dt.datetime, dimensions: tuple) -> str:
    """The de-duplication key of one upstream minute result."""
    digest = hashlib.sha256(json.dumps(dimensions).encode()).hexdigest()[:24]
    return f"upstream:{upstream.pk}:{minute:%Y-%m-%dT%H:%MZ}:{digest}"


def _records(upstream, buckets, start, stop, names) -> list[tuple[int, CheckedRecord]]:
    """The checked records of the buckets' results (one per minute and dimensions)."""
    records = []
    for bucket in buckets:
        minute = bucket.starting_at.astimezone(dt.UTC)
        if bucket.ending_at - bucket.starting_at != MINUTE or minute != _minute(minute):
            raise UpstreamError(
                f"bucket {bucket.starting_at.isoformat()}: not a 1-minute bucket on a minute"
            )
        if not start <= minute < stop:
            raise UpstreamError(f"bucket {minute.isoformat()}: outside the window asked for")
        for result in bucket.results:
            records.append((len(records), _record(upstream, minute, result, names)))
    return records


def _record(upstream, minute: dt.datetime, result: Result, names) -> CheckedRecord:
    where = f"bucket {minute:%Y-%m-%dT%H:%MZ}"
    if not result.model:
        raise Refused(f"{where}: model: is null although the pull groups by model")
    tier = result.service_tier or ServiceTier.STANDARD.value
    if tier not in TIERS:
        raise Refused(f"{where}: service_tier: {tier!r} is not one of {', '.join(sorted(TIERS))}")
    window = result.context_window or ContextWindow.UP_TO_200K.value
    if window not in WINDOWS:
        raise Refused(f"{where}: context_window: {window!r} is not one of 0-200k, 200k-1M")
    dimensions = (
        result.workspace_id,
        result.api_key_id,
        result.model,
        tier,
        window,
        result.account_id,
    )
    cache = result.cache_creation
    tools = result.server_tool_use
    return CheckedRecord(
        request_id(upstream, minute, dimensions),
        minute,
        dimensions,
        names["workspaces"].get(result.workspace_id),
        names["keys"].get(result.api_key_id),
        200,
        "",
        result.uncached_input_tokens,
        cache.ephemeral_5m_input_tokens,
        cache.ephemeral_1h_input_tokens,
        result.cache_read_input_tokens,
        result.output_tokens,
        tools.web_search_requests if tools is not None else 0,
        0,
        0,
        None,
    )


def _store(upstream, start, stop, records, result: PullResult) -> bool:
    """Store one window's records and move the position to ``stop``, in one transaction;
    False (nothing stored) when the position is no longer ``start``."""
    with transaction.atomic():
        locked = Upstream.objects.select_for_update().get(pk=upstream.pk)
        if locked.position != start:
            return False
        rejections: list[Rejection] = []
        # Quiet minutes store nothing (not even an empty batch, which would wait for the
        # rollup sweep); the position moves all the same.
        chunks = [(records, rejections)] if records else []
        stored = ingest_checked(upstream.org, chunks, source=SOURCE)
        if stored.rejections:
            raise Refused(stored.rejections[0].describe("result"))
        if stored.accepted:
            RequestLog.objects.filter(org_id=upstream.org_id, batch_id__in=stored.batch_ids).update(
                requests_known=False
            )
        Upstream.objects.filter(pk=upstream.pk).update(
            position=stop, imported_results=locked.imported_results + stored.accepted
        )
    upstream.position = stop
    result.position = stop
    result.imported += stored.accepted
    result.duplicates += stored.duplicates
    return True
