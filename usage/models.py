"""Raw request logs, the batches they arrived in, and the minute/hour/day buckets.

Shape of the data flow:

* Every accepted record becomes one ``RequestLog`` row, written in the same transaction
  as the ``IngestBatch`` it arrived in and as its ``RequestId`` (the organisation-wide
  de-duplication key, kept after raw logs are purged).
* A rollup takes committed batches that are not yet rolled up (``SELECT ... FOR UPDATE
  SKIP LOCKED``), aggregates their raw rows with one GROUP BY per level, adds the sums to
  the buckets with an upsert, and marks the batches rolled up, all in one transaction.
  A crash rolls everything back; a second worker skips locked batches; a rerun finds
  nothing pending. That is what makes every total exactly-once.
* Buckets are keyed by (``Series``, UTC start). A ``Series`` is one combination of the
  dimensions (workspace, API key or none, model, service tier, context window, account
  or none), so
  bucket rows stay narrow and NULL keys never defeat a unique index.
* Two bucket families, so that a page's cost does not grow with the number of accounts
  (1,000 accounts multiply the series about 175-fold and the minute/hour/day rows 1.3, 6
  and 27-fold):

  - ``MinuteBucket``, ``QuarterHourBucket``, ``HourBucket``, ``DayBucket`` hold *base*
    series only, those without an account: an account series' usage is counted under its
    ``Series.base``. Every read that neither filters nor groups by account reads these.
    Minutes are kept ``MINUTE_RETENTION_DAYS`` (the minute drill of recent incidents); the
    quarter hours, kept as long as hours, cut a local period's edges in any zone of today.
  - ``AccountDayBucket`` holds UTC days of *every* series as logged (account included;
    account-free series too, so "No account" is a group like any other). A read that
    filters or groups by account reads it, and raw ``RequestLog`` rows of rolled-up
    batches for the pieces finer than a day (so those last as long as raw logs do).
"""

import hashlib
import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from console.models import Account, ApiKey, LlmModel, Organization, Workspace
from console.secret_keys import SecretKey


class ServiceTier(models.TextChoices):
    STANDARD = "standard", "Standard"
    BATCH = "batch", "Batch"
    PRIORITY = "priority", "Priority"


class ContextWindow(models.TextChoices):
    UP_TO_200K = "0-200k", "0-200k"
    OVER_200K = "200k-1M", "200k-1M"


class RateLimitType(models.TextChoices):
    REQUESTS = "requests", "Requests"
    INPUT_TOKENS = "input_tokens", "Input tokens"
    OUTPUT_TOKENS = "output_tokens", "Output tokens"


LONG_CONTEXT_THRESHOLD = 200_000


class Series(models.Model):
    """One combination of dimensions that usage is counted under.

    No foreign key constraint in the database (``db_constraint=False``), like the raw log's
    and the buckets' references to series. Series rows are written in one place, the ingest
    registry, in the transaction that found or created every row they point at; nothing
    deletes series, workspaces, keys, models, accounts or organisations but the ORM, whose
    ``on_delete`` rules (cascade, protect) Django applies itself. The constraints cost each
    new series six deferred checks at commit, about as much as its insert: with 1,000
    accounts an import creates hundreds of thousands of series.
    """

    # No index of their own for org and workspace: every read names the organisation, and
    # the unique index below begins with (org, workspace).
    org = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    api_key = models.ForeignKey(
        ApiKey,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    model = models.ForeignKey(
        LlmModel, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    service_tier = models.CharField(max_length=16, choices=ServiceTier.choices)
    context_window = models.CharField(max_length=16, choices=ContextWindow.choices)
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    # The series of the same dimensions without the account, under which the minute, hour
    # and day buckets count this one's usage; NULL for a series without an account (its
    # own base). The ingest registry creates it before the account series that needs it.
    base = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                "org",
                "workspace",
                Coalesce("api_key", 0),
                "model",
                "service_tier",
                "context_window",
                Coalesce("account", 0),
                name="series_unique_dimensions",
            ),
        ]
        indexes = [
            # The reads without accounts look up matching base series (a few thousand) among
            # all of an organisation's (hundreds of thousands with 1,000 people).
            models.Index(fields=["org"], condition=Q(base__isnull=True), name="series_base_of_org"),
        ]


class IngestBatch(models.Model):
    """One accepted submission; its raw rows are rolled up together, exactly once."""

    class Source(models.TextChoices):
        HTTP = "http", "HTTP"
        IMPORT = "import", "Bulk import"
        DEMO = "demo", "Demo generator"
        UPSTREAM = "upstream", "Upstream pull"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rolled_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "ingest batches"
        indexes = [
            models.Index(
                fields=["org", "id"],
                condition=Q(rolled_up_at__isnull=True),
                name="batch_pending_rollup",
            ),
        ]


def request_digest(request_id: str) -> uuid.UUID:
    """What stands for a request id in ``RequestId``: its SHA-256 cut to 128 bits, as a uuid."""
    return uuid.UUID(bytes=hashlib.sha256(request_id.encode()).digest()[:16])


class RequestId(models.Model):
    """The organisation-wide de-duplication key of every request ever accepted.

    The key is the request id's digest (``request_digest``), not its text. Ingest inserts
    one key per record at a random place in this table's index, so once the index outgrows
    the server's cache its size is what an import's speed is made of (every page an insert
    touches is read, dirtied and written whole to the WAL after each checkpoint). A 16-byte
    key makes the index 40% smaller than the text ids (36 bytes in the usual
    ``req_011C...`` form), and compares as plain bytes rather than through the database's
    collation.

    Exactness: two different ids count as one request only if their digests are equal. By
    chance that has a probability below n^2 / 2^129 for n ids of one organisation (under
    10^-19 for ten billion); on purpose it takes a SHA-256 collision in 128 bits (about
    2^64 work), and only the holder of the organisation's own ingest key could send the
    pair, to drop one of its own records.
    """

    pk = models.CompositePrimaryKey("org_id", "digest")
    # The primary key already serves lookups by organisation; a second index would only
    # slow down ingest, which writes one row here per accepted record.
    org = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    digest = models.UUIDField()  # request_digest(request_id): 16 bytes, a uuid column


class Counts(models.Model):
    """The additive counters shared by raw rows and buckets."""

    uncached_input_tokens = models.BigIntegerField(default=0)
    cache_write_5m_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    web_search_requests = models.BigIntegerField(default=0)
    code_execution_ms = models.BigIntegerField(default=0)
    # The client's own estimate of the cost (Claude Code's cost_usd, LiteLLM's
    # response_cost) in 1e-9 USD: shown beside our pricing, never used for it.
    client_cost_nanos = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        abstract = True


class RequestLog(Counts):
    """One API request as it was logged (raw; purged after the retention period)."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    batch = models.ForeignKey(
        IngestBatch, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    series = models.ForeignKey(
        Series, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    request_id = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(default=200)
    rate_limit_type = models.CharField(  # "" unless the request got a 429 naming its limit
        max_length=16, choices=RateLimitType.choices, blank=True, default=""
    )
    # False for a row that sums an unknown number of requests (a minute imported from an
    # upstream's usage report, which carries no request counts): not counted in ``requests``.
    requests_known = models.BooleanField(default=True, db_default=True)

    class Meta:
        indexes = [
            models.Index(fields=["org", "timestamp"], name="requestlog_org_time"),
            models.Index(fields=["batch"], name="requestlog_batch"),
            # The Usage page lists rate-limited requests; they are rare, so a filter on one
            # key would otherwise walk every raw row of the period to find them.
            models.Index(
                fields=["org", "timestamp"],
                condition=Q(status_code=429),
                name="requestlog_rate_limited",
            ),
            # The Cost page grouped by user shares the code-execution allowance within the
            # day it runs out by the hour, which for accounts means raw rows; a few in a
            # hundred carry code execution, and only those are read.
            models.Index(
                fields=["org", "timestamp"],
                condition=Q(code_execution_ms__gt=0),
                name="requestlog_code_execution",
            ),
        ]


class BucketCounts(Counts):
    """A bucket's counters: the raw rows' counters and the requests they add up."""

    requests = models.BigIntegerField(default=0)
    # Raw rows whose number of requests is not known (``RequestLog.requests_known``): a
    # selection with any says "request count not known" instead of showing ``requests``.
    uncounted_rows = models.BigIntegerField(default=0, db_default=0)
    rate_limited_requests = models.BigIntegerField(default=0)
    rate_limited_by_requests = models.BigIntegerField(default=0)
    rate_limited_by_input_tokens = models.BigIntegerField(default=0)
    rate_limited_by_output_tokens = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class Bucket(BucketCounts):
    """Sums over one series and one time bucket (start inclusive, UTC).

    Keyed by (organisation, start, series): the rollup's upsert target and the pages' range
    read by organisation and time in one index, the only one, because rollups write about as
    many bucket rows as raw rows and every index costs on each. (Deleting a series alone, which
    only the staff admin can do, scans the table; organisations go by the key.)
    """

    org = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    series = models.ForeignKey(
        Series, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    start = models.DateTimeField()

    class Meta:
        abstract = True


class MinuteBucket(Bucket):
    """UTC minutes, kept ``MINUTE_RETENTION_DAYS`` (for the minute drill of recent hours);
    on PostgreSQL partitioned by UTC day of ``start`` and dropped a day at a time."""

    pk = models.CompositePrimaryKey("org_id", "start", "series_id")


class QuarterHourBucket(Bucket):
    """UTC quarter hours, kept as long as hours: every UTC offset in use today is a multiple
    of 15 minutes, so these cut any zone's local day exactly once minute buckets are gone
    (``MINUTE_RETENTION_DAYS``)."""

    pk = models.CompositePrimaryKey("org_id", "start", "series_id")


class HourBucket(Bucket):
    pk = models.CompositePrimaryKey("org_id", "start", "series_id")


class DayBucket(Bucket):
    """UTC days; other zones combine them with hour and minute buckets at the edges."""

    pk = models.CompositePrimaryKey("org_id", "start", "series_id")


class AccountDayBucket(Bucket):
    """UTC days per series as logged, account included (the account family; see above).

    The second index serves one account's (or member's) month: its few series read by
    (series, start) instead of every day row of the organisation's month.
    """

    pk = models.CompositePrimaryKey("org_id", "start", "series_id")

    class Meta:
        indexes = [
            models.Index(fields=["org", "series", "start"], name="accountday_series_start"),
        ]


class ModelBucket(BucketCounts):
    """Sums over one workspace, model, service tier and context window, and one time bucket.

    The same usage as the series buckets, without the API key and the account: a month holds
    a few thousand of these rows where it holds tens of thousands of series buckets, so every
    read that neither filters nor groups by key or account (the Cost page, the Usage page
    without a key, spend limits) reads these. Quarter hour, hour and day: the quarter hours
    are the edges of a local period in a half-hour zone (a Kolkata month reads two around
    each local midnight); no minutes, which only the minute drill reads.
    """

    org = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    model = models.ForeignKey(
        LlmModel, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    service_tier = models.CharField(max_length=16, choices=ServiceTier.choices)
    context_window = models.CharField(max_length=16, choices=ContextWindow.choices)
    start = models.DateTimeField()

    class Meta:
        abstract = True


_MODEL_BUCKET_KEY = (
    "org_id",
    "start",
    "workspace_id",
    "model_id",
    "service_tier",
    "context_window",
)


class ModelQuarterHourBucket(ModelBucket):
    pk = models.CompositePrimaryKey(*_MODEL_BUCKET_KEY)


class ModelHourBucket(ModelBucket):
    pk = models.CompositePrimaryKey(*_MODEL_BUCKET_KEY)


class ModelDayBucket(ModelBucket):
    pk = models.CompositePrimaryKey(*_MODEL_BUCKET_KEY)


class BucketDay(models.Model):
    """A UTC day of an organisation's buckets and how often a rollup has added to it.

    Every transaction that adds to a day's buckets (a rollup, a rebuild) raises its
    ``version`` in the same transaction, so the versions of a span of days change whenever
    anything read from them could: a reader may keep what it computed from those buckets
    (``costs.cache``) for as long as their sum and count are unchanged.
    """

    pk = models.CompositePrimaryKey("org_id", "day")
    org = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    day = models.DateField()
    version = models.BigIntegerField(default=1)


class IngestKey(SecretKey):
    """A bearer secret that lets a gateway send an organisation's logs; stored hashed."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="ingest_keys")

    class Meta:
        ordering = ["-created_at"]


class RateLimit(models.Model):
    """An organisation's per-minute limits for one model, drawn on the Usage page."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="rate_limits")
    model = models.ForeignKey(LlmModel, on_delete=models.CASCADE, related_name="+")
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    input_tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    output_tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "model"], name="one_rate_limit_per_model")
        ]
