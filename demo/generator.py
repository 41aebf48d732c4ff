"""A deterministic generator of realistic raw request logs for the demo organisation.

Records are plain dicts in exactly the raw-record format that every way in accepts (see
the ingest contract), so the demo data goes through the same validation and storage as a
gateway's logs. Everything is derived from ``DemoSpec``: the same spec (seed, size and end
instant) always yields the same records, and a different seed yields different ones.

How the traffic is shaped:

* Traffic comes from *personas* (a production backend, a support bot, a research agent, a
  nightly batch pipeline, a priority real-time API, CI evaluations, Claude Code developers,
  and console/workbench use without an API key). Each has its own daily and weekly curve in
  the team's local time, service tiers, model mix, token sizes, caching, web searches, code
  execution and occasional bursts. Rate limits (429s of each type) cluster in bursts.
* The requests of the whole period are first shared out over (hour, persona) cells by
  weight with largest remainders, so a spec yields exactly its number of requests; then
  each hour is streamed in time order. Nothing but the small per-hour plan is held in
  memory, so ten million records stream in constant memory.
* Timestamps are assembled from precomputed strings (no per-record ``isoformat``); some
  workspaces' gateways report in their local offset (``+05:30``, ``-05:00``) to exercise
  offset handling.

With ``accounts``, every request also names the account behind it: people (an email as the
id, a display name) for the personas people drive (Claude Code, the console, research and
evaluations), and one service account in twenty-five for the automated ones; a few accounts
carry most of the traffic. By default (``account_keys`` 0) a request's account is drawn
independently of its API key, so every account ends up using nearly every key of the
personas it sends for: the worst case for the number of (account, key, model, tier) series.
With ``account_keys`` N, each account works through at most N keys, as a person uses their
own key and a team's or two: its keys are chosen once per account (whatever the seed), a few
popular keys more often, and a request of a keyed persona draws its account first, then one
of that account's keys, the first ones more often.

Workspace, API key and account ids depend only on their position, never on the seed, so runs with
different seeds add traffic to the same workspaces and keys. Request ids depend on the spec
(all but its end instant) and the record's position, so running a spec again is absorbed
by de-duplication, and another seed or size adds new requests.
"""

import bisect
import dataclasses
import datetime as dt
import hashlib
import math
import random
import statistics
from collections.abc import Iterator

# Newest first within what a 2025-2026 organisation uses; the first ``models`` are used.
MODEL_CATALOGUE = (
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-20250514",
    "claude-3-5-haiku-20241022",
    "claude-opus-4-1-20250805",
    "claude-3-7-sonnet-20250219",
    "claude-3-haiku-20240307",
    "claude-opus-4-20250514",
)
# Only these accept more than 200k input tokens (the 1M-token context window).
LONG_CONTEXT_MODELS = frozenset({"claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514"})

WORKSPACE_NAMES = (
    "Production",
    "Customer Support",
    "Research",
    "Data Platform",
    "Evaluation",
    "Growth",
    "Mobile",
    "Internal Tools",
)
# Gateways of these workspaces log in their local offset (minutes east of UTC).
WORKSPACE_OFFSETS = {"Customer Support": 330, "Data Platform": -300}

DEFAULT_DAYS = 90
DEFAULT_RATE = 50.0  # mean requests per hour: 108,000 requests over 90 days
DEFAULT_WORKSPACES = 4
DEFAULT_KEYS = 12
DEFAULT_MODELS = 6
DEFAULT_ACCOUNTS = 40  # seed_demo's; a DemoSpec names no accounts unless asked
FIRST_NAMES = (
    "Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken",
    "Radia", "Linus", "Margaret", "Dennis", "Shafi", "John", "Hedy", "Tim", "Sophie",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen",
    "Thompson", "Perlman", "Torvalds", "Hamilton", "Ritchie", "Goldwasser", "Backus", "Lamarr",
    "Berners-Lee", "Wilson",
)  # fmt: skip
SERVICE_NAMES = ("etl", "support-bot", "nightly-batch", "ranker", "ingest", "alerts", "search")
# The personas a person drives; the others' requests come from service accounts.
PEOPLE_PERSONAS = frozenset({"claude_code", "console", "research", "evals"})
DEFAULT_TEAM_UTC_OFFSET_MINUTES = -300  # the team works on US Eastern (standard) time

SERVICE_TIERS = ("standard", "batch", "priority")
RATE_LIMIT_TYPES = ("requests", "input_tokens", "output_tokens")

_MS_PER_HOUR = 3_600_000
_LOGNORMAL_STEPS = 8192
_CONTEXT_LIMIT = 200_000  # input tokens, on models without the 1M context window
_KEY_ZIPF = 0.9  # a persona's j-th key is used in proportion to 1 / (j + 1) ** this
_MASK64 = (1 << 64) - 1
_GOLDEN64 = 0x9E3779B97F4A7C15  # odd, so i -> i * _GOLDEN64 mod 2**64 is a bijection
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_MMSS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))

# Local hour-of-day curves (index = hour 0..23), 1.0 = the busiest hour.
_OFFICE = (
    0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.10, 0.25, 0.55, 0.90, 1.00, 1.00,
    0.80, 0.85, 1.00, 0.98, 0.90, 0.70, 0.40, 0.25, 0.18, 0.12, 0.08, 0.05,
)  # fmt: skip
_PRODUCT = tuple(0.30 + 0.70 * v for v in _OFFICE)
_NIGHTLY = tuple(1.0 if 1 <= h <= 4 else 0.3 if h in (0, 5) else 0.01 for h in range(24))
# Weekday factors, Monday = 0.
_WEEK_OFFICE = (1.0, 1.0, 1.0, 0.97, 0.85, 0.12, 0.08)
_WEEK_PRODUCT = (1.0, 1.0, 1.0, 1.0, 0.95, 0.65, 0.6)
_WEEK_NIGHTLY = (1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6)


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """What to generate: the period, its size, the catalogue sizes and the seed."""

    days: int = DEFAULT_DAYS
    rate: float = DEFAULT_RATE  # mean requests per hour over the period
    requests: int | None = None  # exact total; overrides ``rate``
    workspaces: int = DEFAULT_WORKSPACES  # besides Default
    keys: int = DEFAULT_KEYS
    models: int = DEFAULT_MODELS
    seed: int = 1
    end: dt.datetime | None = None  # aware; default now; never later than now
    accounts: int = 0  # people and service accounts behind requests; 0: none named
    account_keys: int = 0  # API keys each account uses at most; 0: account and key independent
    team_utc_offset_minutes: int = DEFAULT_TEAM_UTC_OFFSET_MINUTES

    def __post_init__(self):
        if self.days < 1:
            raise ValueError("days must be at least 1.")
        if self.rate < 0 or not math.isfinite(self.rate):
            raise ValueError("rate must be a finite number of requests per hour, >= 0.")
        if self.requests is not None and self.requests < 0:
            raise ValueError("requests must be >= 0.")
        if self.workspaces < 0 or self.keys < 0 or self.accounts < 0 or self.account_keys < 0:
            raise ValueError("workspaces, keys, accounts and account_keys must be >= 0.")
        if not 1 <= self.models <= len(MODEL_CATALOGUE):
            raise ValueError(f"models must be between 1 and {len(MODEL_CATALOGUE)}.")
        if self.seed < 0:
            raise ValueError("seed must be >= 0.")
        if self.end is not None and self.end.tzinfo is None:
            raise ValueError("end must be an aware datetime.")


@dataclasses.dataclass(frozen=True)
class DemoWorkspace:
    external_id: str
    name: str


@dataclasses.dataclass(frozen=True)
class DemoKey:
    external_id: str
    name: str
    workspace_id: str | None  # None = the Default workspace
    persona: str


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The workspaces, API keys and models a spec's records refer to."""

    workspaces: tuple[DemoWorkspace, ...]
    keys: tuple[DemoKey, ...]
    models: tuple[str, ...]
    accounts: tuple["DemoAccount", ...] = ()


@dataclasses.dataclass(frozen=True)
class DemoAccount:
    external_id: str  # a person's email, or ``svc-...``
    name: str
    is_service: bool
    key_ids: tuple[str, ...] = ()  # the only API keys it uses, most used first; (): any


@dataclasses.dataclass(frozen=True)
class _Persona:
    """One kind of traffic: its keys, rhythm, tiers, models and request shapes."""

    name: str
    key_names: tuple[str, ...]  # empty: usage without an API key (console, workbench)
    workspace_slot: int  # home workspace: 0 = Default, 1.. = WORKSPACE_NAMES order
    share: float  # of all traffic, before rhythm and bursts
    day_curve: tuple[float, ...]  # by local hour
    week_curve: tuple[float, ...]  # by local weekday
    families: dict  # model family -> weight
    input_median: float  # uncached input tokens
    output_median: float
    tiers: tuple[float, float, float] = (1.0, 0.0, 0.0)  # standard, batch, priority
    input_sigma: float = 0.9  # log-normal spread of the input size
    cache_read: float = 0.5  # probability of reading a cached prefix
    cache_write: float = 0.3  # probability of writing one (when not reading)
    write_1h: float = 0.0  # share of cache writes with the 1-hour lifetime
    prefix_median: float = 5000  # size of the cached prefix
    web_search: float = 0.0  # probability of web searches, 1..web_search_max of them
    web_search_max: int = 2
    code_execution: float = 0.0  # probability of running code
    long_context: float = 0.0  # probability of > 200k input, on models that allow it
    bursts_per_day: float = 0.08
    limited: float = 0.0018  # 429 share outside bursts
    limited_in_burst: float = 0.04  # 429 share in burst hours
    limit_types: tuple[float, float, float] = (0.34, 0.33, 0.33)  # requests, input, output


_PERSONAS = (
    _Persona(
        name="backend",
        key_names=("prod-backend", "prod-backend-canary", "checkout-assistant"),
        workspace_slot=1,
        share=0.30,
        day_curve=_PRODUCT,
        week_curve=_WEEK_PRODUCT,
        families={"sonnet": 0.6, "haiku": 0.35, "opus": 0.05},
        input_median=1500,
        output_median=350,
        tiers=(0.97, 0.0, 0.03),
        cache_read=0.7,
        cache_write=0.25,
        prefix_median=6000,
        web_search=0.03,
        web_search_max=3,
        bursts_per_day=0.10,
    ),
    _Persona(
        name="support",
        key_names=("support-bot", "support-triage", "ticket-summarizer"),
        workspace_slot=2,
        share=0.18,
        day_curve=_PRODUCT,
        week_curve=_WEEK_PRODUCT,
        families={"haiku": 0.75, "sonnet": 0.25},
        input_median=800,
        output_median=220,
        input_sigma=0.8,
        cache_read=0.6,
        prefix_median=3000,
        web_search=0.06,
        limit_types=(0.45, 0.3, 0.25),
    ),
    _Persona(
        name="research",
        key_names=("research-agent", "literature-review", "data-analysis"),
        workspace_slot=3,
        share=0.12,
        day_curve=_OFFICE,
        week_curve=_WEEK_OFFICE,
        families={"opus": 0.35, "sonnet": 0.6, "haiku": 0.05},
        input_median=6000,
        output_median=1200,
        tiers=(0.95, 0.05, 0.0),
        input_sigma=1.2,
        cache_write=0.4,
        write_1h=0.4,
        prefix_median=20000,
        web_search=0.30,
        web_search_max=8,
        code_execution=0.20,
        long_context=0.05,
        bursts_per_day=0.12,
        limit_types=(0.2, 0.5, 0.3),
    ),
    _Persona(
        name="batch",
        key_names=("nightly-batch", "doc-classifier-batch"),
        workspace_slot=4,
        share=0.13,
        day_curve=_NIGHTLY,
        week_curve=_WEEK_NIGHTLY,
        families={"sonnet": 0.5, "haiku": 0.5},
        input_median=3000,
        output_median=600,
        tiers=(0.0, 1.0, 0.0),
        input_sigma=0.7,
        cache_read=0.3,
        cache_write=0.2,
        write_1h=1.0,
        prefix_median=4000,
        long_context=0.01,
        bursts_per_day=0.05,
        limited=0.0008,
        limit_types=(0.2, 0.4, 0.4),
    ),
    _Persona(
        name="priority",
        key_names=("realtime-priority", "voice-agent-priority"),
        workspace_slot=1,
        share=0.06,
        day_curve=_PRODUCT,
        week_curve=_WEEK_PRODUCT,
        families={"sonnet": 0.7, "opus": 0.3},
        input_median=2000,
        output_median=400,
        tiers=(0.0, 0.0, 1.0),
        input_sigma=0.8,
        cache_read=0.7,
        cache_write=0.2,
        prefix_median=8000,
        web_search=0.05,
        bursts_per_day=0.05,
    ),
    _Persona(
        name="evals",
        key_names=("ci-evals", "regression-suite", "prompt-experiments"),
        workspace_slot=5,
        share=0.09,
        day_curve=_OFFICE,
        week_curve=_WEEK_OFFICE,
        families={"haiku": 0.4, "sonnet": 0.5, "opus": 0.1},
        input_median=2500,
        output_median=500,
        tiers=(0.8, 0.2, 0.0),
        input_sigma=1.0,
        cache_write=0.35,
        write_1h=0.6,
        prefix_median=10000,
        web_search=0.02,
        code_execution=0.05,
        long_context=0.02,
        bursts_per_day=0.6,  # CI runs the suite on most working days
        limited_in_burst=0.10,
        limit_types=(0.4, 0.3, 0.3),
    ),
    _Persona(
        name="claude_code",
        key_names=(
            "claude-code-alex",
            "claude-code-sam",
            "claude-code-priya",
            "claude-code-jordan",
            "claude-code-mei",
            "claude-code-lucas",
        ),
        workspace_slot=0,
        share=0.09,
        day_curve=_OFFICE,
        week_curve=_WEEK_OFFICE,
        families={"sonnet": 0.7, "opus": 0.25, "haiku": 0.05},
        input_median=2500,
        output_median=700,
        input_sigma=1.0,
        cache_read=0.92,  # long sessions re-read a large cached context
        cache_write=0.8,
        write_1h=0.1,
        prefix_median=45000,
        web_search=0.04,
        web_search_max=3,
        long_context=0.03,
        limit_types=(0.3, 0.4, 0.3),
    ),
    _Persona(
        name="console",
        key_names=(),
        workspace_slot=3,
        share=0.03,
        day_curve=_OFFICE,
        week_curve=_WEEK_OFFICE,
        families={"opus": 0.3, "sonnet": 0.6, "haiku": 0.1},
        input_median=1800,
        output_median=600,
        input_sigma=1.0,
        cache_read=0.2,
        cache_write=0.1,
        prefix_median=3000,
        web_search=0.10,
        web_search_max=3,
        code_execution=0.05,
        long_context=0.01,
        bursts_per_day=0.0,
        limited=0.0,
    ),
)
_KEYED = [p for p in _PERSONAS if p.key_names]
_FAMILY_RANK = {"sonnet": 0, "haiku": 1, "opus": 2}


def _stable_id(prefix: str, label: str) -> str:
    """An Anthropic-looking id (``wrkspc_01...``) that depends only on ``label``."""
    number = int.from_bytes(hashlib.sha256(label.encode()).digest()[:16], "big")
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 58)
        chars.append(_BASE58[digit])
    return f"{prefix}_01{''.join(chars)}"


def _family(model_id: str) -> str:
    return next((f for f in _FAMILY_RANK if f in model_id), "other")


def build_catalogue(spec: DemoSpec) -> Catalogue:
    """The workspaces, keys and models of a spec (independent of its seed)."""
    workspaces = tuple(
        DemoWorkspace(
            _stable_id("wrkspc", f"demo-workspace-{i}"),
            WORKSPACE_NAMES[i] if i < len(WORKSPACE_NAMES) else f"Team {i + 1}",
        )
        for i in range(spec.workspaces)
    )
    keys = []
    counters = {p.name: 0 for p in _KEYED}
    for i in range(spec.keys):
        persona = _KEYED[i % len(_KEYED)]
        j = counters[persona.name]
        counters[persona.name] += 1
        base = persona.key_names[j % len(persona.key_names)]
        round_ = j // len(persona.key_names)
        name = base if round_ == 0 else f"{base}-{round_ + 1}"
        # A persona's first key sits in its home workspace, later ones spread out (some in
        # the Default workspace, as keys created before workspaces existed are).
        slot = _slot(persona.workspace_slot if j == 0 else persona.workspace_slot + j, spec)
        workspace_id = workspaces[slot - 1].external_id if slot else None
        keys.append(
            DemoKey(_stable_id("apikey", f"demo-key-{i}"), name, workspace_id, persona.name)
        )
    accounts = _accounts(spec.accounts)
    if spec.account_keys:
        accounts = _with_keys(accounts, keys, spec.account_keys)
    return Catalogue(workspaces, tuple(keys), MODEL_CATALOGUE[: spec.models], accounts)


def _accounts(count: int) -> tuple[DemoAccount, ...]:
    """``count`` accounts: one service account in 25 (at least one), the rest people."""
    accounts = []
    for i in range(count):
        if i % 25 == 1 or count == 1:
            n = i // 25
            base = SERVICE_NAMES[n % len(SERVICE_NAMES)]
            label = base if n < len(SERVICE_NAMES) else f"{base}-{n // len(SERVICE_NAMES) + 1}"
            accounts.append(DemoAccount(f"svc-{label}", f"{label} (service)", True))
            continue
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        round_ = i // (len(FIRST_NAMES) * len(LAST_NAMES))
        suffix = "" if round_ == 0 else str(round_ + 1)
        email = f"{first}.{last}{suffix}@example.com".lower()
        accounts.append(DemoAccount(email, f"{first} {last}{suffix and ' ' + suffix}", False))
    return tuple(accounts)


def _senders(persona: str, people: list, services: list) -> list:
    """The accounts behind a persona's requests: people for the personas people drive,
    service accounts for the others (either kind when the other has none)."""
    return (people if persona in PEOPLE_PERSONAS else services) or people or services


def _with_keys(accounts, keys, per_account: int) -> tuple[DemoAccount, ...]:
    """The accounts, each with at most ``per_account`` API keys of the personas it sends for.

    An account's key slots go round those personas, starting at a different one for each
    account of its kind, so that with enough accounts every persona's traffic has senders;
    within a persona the key is drawn with the persona's own popularity (Zipf-like), from a
    generator seeded by the account id alone.
    """
    by_persona: dict[str, list[str]] = {}
    for key in keys:
        by_persona.setdefault(key.persona, []).append(key.external_id)
    people = [a for a in accounts if not a.is_service]
    services = [a for a in accounts if a.is_service]
    served: dict[str, list[str]] = {}
    for persona in _KEYED:
        if persona.name in by_persona:
            for account in _senders(persona.name, people, services):
                served.setdefault(account.external_id, []).append(persona.name)
    position = {a.external_id: n for kind in (people, services) for n, a in enumerate(kind)}
    out = []
    for account in accounts:
        personas = served.get(account.external_id, [])
        first = position[account.external_id] * per_account
        rng = random.Random(f"meterboard-demo-account-keys:{account.external_id}")
        picked: list[str] = []
        for slot in range(per_account if personas else 0):
            persona = personas[(first + slot) % len(personas)]
            pool = [(j, key) for j, key in enumerate(by_persona[persona]) if key not in picked]
            if pool:  # (a persona with fewer keys than slots gives what it has)
                weights = [1 / (j + 1) ** _KEY_ZIPF for j, _key in pool]
                picked.append(rng.choices(pool, weights)[0][1])
        out.append(dataclasses.replace(account, key_ids=tuple(picked)))
    return tuple(out)


def _slot(slot: int, spec: DemoSpec) -> int:
    """Fold a persona's workspace slot onto the workspaces that exist (0 = Default)."""
    if spec.workspaces == 0:
        return 0
    return slot % (spec.workspaces + 1)


def _end(spec: DemoSpec) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    end = now if spec.end is None else min(spec.end.astimezone(dt.UTC), now)
    return end.replace(microsecond=end.microsecond // 1000 * 1000)


def total_requests(spec: DemoSpec) -> int:
    """How many records ``generate(spec)`` yields."""
    if spec.requests is not None:
        return spec.requests
    return round(spec.rate * spec.days * 24)


class _Profile:
    """Where one stream of requests is attributed: a key (or none) in a workspace."""

    __slots__ = ("workspace_id", "workspace_name", "key_id", "key_name", "zone")

    def __init__(self, workspace_id, workspace_name, key_id, key_name, zone):
        self.workspace_id = workspace_id
        self.workspace_name = workspace_name
        self.key_id = key_id
        self.key_name = key_name
        self.zone = zone  # index into the generator's offset list


def _offset_suffix(minutes: int) -> str:
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def _model_weights(persona: _Persona, models: tuple[str, ...], progress: float) -> list[float]:
    """Model mix of a persona at ``progress`` (0..1) through the period.

    Within a family the newest model gains share over the period, as teams migrate.
    """
    by_family: dict[str, list[str]] = {}
    for model in models:
        by_family.setdefault(_family(model), []).append(model)
    weights = []
    usable = {f: w for f, w in persona.families.items() if f in by_family} or {
        f: 1.0 for f in by_family
    }
    for model in models:
        family = _family(model)
        share = usable.get(family, 0.0)
        rank = by_family[family].index(model)
        trend = 0.5 + 1.5 * progress if rank == 0 else 1.2 - 0.8 * progress
        weights.append(share * trend / (1 + rank))
    return weights


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Share ``total`` over cells in proportion to ``weights`` (largest remainders)."""
    weight_sum = sum(weights)
    if total == 0 or weight_sum <= 0:
        return [0] * len(weights)
    quotas = [total * w / weight_sum for w in weights]
    counts = [int(q) for q in quotas]
    short = total - sum(counts)
    order = sorted(range(len(quotas)), key=lambda i: (counts[i] - quotas[i], i))
    for i in order[:short]:
        counts[i] += 1
    return counts


def generate(spec: DemoSpec) -> Iterator[dict]:
    """Yield ``total_requests(spec)`` raw records in time order, deterministically."""
    catalogue = build_catalogue(spec)
    end = _end(spec)
    start = end - dt.timedelta(days=spec.days)
    rng = random.Random(f"meterboard-demo:{spec.seed}")  # str seeds hash stably (SHA-512)

    # Who sends what: per persona, its attribution profiles and their weights.
    zones = [0]
    names_by_id = {w.external_id: w.name for w in catalogue.workspaces}
    personas, profiles, profile_cums = [], [], []
    for persona in _PERSONAS:
        if persona.key_names:
            keys = [k for k in catalogue.keys if k.persona == persona.name]
            entries = [(k.workspace_id, k.external_id, k.name) for k in keys]
        else:
            home = _slot(persona.workspace_slot, spec)
            home_id = catalogue.workspaces[home - 1].external_id if home else None
            entries = [(None, None, None), (home_id, None, None)]
        if not entries:
            continue
        built = []
        for workspace_id, key_id, key_name in entries:
            name = names_by_id.get(workspace_id)
            offset = WORKSPACE_OFFSETS.get(name, 0)
            if offset not in zones:
                zones.append(offset)
            built.append(_Profile(workspace_id, name, key_id, key_name, zones.index(offset)))
        personas.append(persona)
        profiles.append(built)
        # A few keys carry most of a persona's traffic (Zipf-like), none carries nothing.
        profile_cums.append(_cumulative(1 / (j + 1) ** _KEY_ZIPF for j in range(len(built))))
    suffix_tables = [[f".{ms:03d}{_offset_suffix(z)}" for ms in range(1000)] for z in zones]
    # Who is behind each persona's requests: people or services, a few carrying the most.
    people = [(a.external_id, a.name) for a in catalogue.accounts if not a.is_service]
    services = [(a.external_id, a.name) for a in catalogue.accounts if a.is_service]
    keys_of = {a.external_id: a.key_ids for a in catalogue.accounts}
    senders = []
    for p, persona in enumerate(personas):
        chosen = _senders(persona.name, people, services)
        weights = [1 / (j + 1) ** 0.8 for j in range(len(chosen))]
        own = None  # per sender, (its keys as indices into the persona's profiles, weights)
        if spec.account_keys and persona.key_names and chosen:
            index = {profile.key_id: j for j, profile in enumerate(profiles[p])}
            kept, kept_weights, own = [], [], []
            for account, weight in zip(chosen, weights, strict=True):
                mine = [index[key] for key in keys_of[account[0]] if key in index]
                if mine:
                    kept.append(account)
                    kept_weights.append(weight)
                    own.append((mine, _cumulative(1 / (m + 1) for m in range(len(mine)))))
            if kept:
                chosen, weights = kept, kept_weights
            else:  # too few accounts to cover this persona's keys: drawn independently
                own = None
        senders.append((chosen, _cumulative(weights), own))

    # The plan: one weight per (hour, persona) cell, with bursts and a growth trend.
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    hours = math.ceil((end - first_hour) / dt.timedelta(hours=1))
    team = dt.timedelta(minutes=spec.team_utc_offset_minutes)
    plan_rng = random.Random(f"meterboard-demo-plan:{spec.seed}")
    bursts = _bursts(plan_rng, personas, first_hour + team, hours)
    weights, spans = [], []
    for h in range(hours):
        hour_start = first_hour + dt.timedelta(hours=h)
        lo = max(0, _ms(start - hour_start))
        hi = min(_MS_PER_HOUR, _ms(end - hour_start))
        spans.append((lo, hi))
        local = hour_start + team
        growth = 0.75 + 0.5 * h / max(1, hours - 1)
        fraction = (hi - lo) / _MS_PER_HOUR
        for p, persona in enumerate(personas):
            rhythm = persona.day_curve[local.hour] * persona.week_curve[local.weekday()]
            noise = 0.85 + 0.3 * plan_rng.random()
            burst = bursts[p].get(h, _NO_BURST)[0]
            weights.append(persona.share * rhythm * growth * noise * burst * fraction)
    counts = _allocate(total_requests(spec), weights)
    del weights

    models = catalogue.models
    ids = _RequestIds(spec)
    draw = rng.random
    # Log-normal draws by inverse CDF from tables (random.lognormvariate is 4x slower).
    spread = {s: _lognormal_table(s) for s in {0.5, 0.8, 1.0, *(p.input_sigma for p in personas)}}
    n_personas = len(personas)
    model_cums: list = []
    for h in range(hours):
        row = counts[h * n_personas : (h + 1) * n_personas]
        if not any(row):
            continue
        if h % 24 == 0 or not model_cums:  # the model mix drifts day by day
            progress = h / max(1, hours - 1)
            model_cums = [_cumulative(_model_weights(p, models, progress)) for p in personas]
        lo, hi = spans[h]
        hour_start = first_hour + dt.timedelta(hours=h)
        # Each zone's local prefix for this hour and the next (offsets like +05:30 straddle).
        prefixes = []
        for zone in zones:
            local = hour_start + dt.timedelta(minutes=zone)
            floor = local.replace(minute=0, second=0, microsecond=0)
            prefixes.append(
                (
                    floor.strftime("%Y-%m-%dT%H:"),
                    (floor + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:"),
                    (local - floor).seconds,
                )
            )
        # Draw every request's instant; sort the hour by time (persona in the low 4 bits).
        codes: list[int] = []
        span = hi - lo
        for p, count in enumerate(row):
            if not count:
                continue
            _factor, w_start, w_len = bursts[p].get(h, _NO_BURST)
            if w_len:
                w_lo = max(lo, w_start)
                w_span = max(1, min(hi, w_start + w_len) - w_lo)
                for _ in range(count):
                    inside = draw() < 0.7  # most of a burst's requests fall in its window
                    ms = w_lo + int(draw() * w_span) if inside else lo + int(draw() * span)
                    codes.append(min(ms, hi - 1) << 4 | p)
            else:
                codes.extend((lo + int(draw() * span)) << 4 | p for _ in range(count))
        codes.sort()
        instants: list[list[int]] = [[] for _ in range(n_personas)]
        for code in codes:
            instants[code & 15].append(code >> 4)
        streams = []
        for p, persona in enumerate(personas):
            in_burst = bool(bursts[p].get(h, _NO_BURST)[2])
            records = _records(
                persona,
                instants[p],
                draw=draw,
                profiles=profiles[p],
                profile_cum=profile_cums[p],
                models=models,
                model_cum=model_cums[p],
                prefixes=prefixes,
                suffix_tables=suffix_tables,
                limited=persona.limited_in_burst if in_burst else persona.limited,
                spread=spread,
                ids=ids,
                senders=senders[p],
            )
            streams.append(records.__next__)
        for code in codes:
            yield streams[code & 15]()


_NO_BURST = (1.0, 0, 0)


class _RequestIds:
    """Unique, random-looking request ids: a spec's fingerprint, then a mixed counter.

    The counter is mixed by a bijection, so ids never repeat within a spec; the prefix
    differs between specs (seed, period length, size, catalogue), so another seed or size
    adds new requests while the same spec run again is absorbed as duplicates.
    """

    def __init__(self, spec: DemoSpec):
        fingerprint = (
            f"{spec.seed}:{spec.days}:{total_requests(spec)}:"
            f"{spec.workspaces}:{spec.keys}:{spec.models}:{spec.team_utc_offset_minutes}"
        )
        if spec.accounts:  # the same ids as before accounts existed when none are asked for
            fingerprint += f":{spec.accounts}"
            if spec.account_keys:
                fingerprint += f":k{spec.account_keys}"
        digest = hashlib.sha256(fingerprint.encode()).digest()
        self.prefix = f"req_011C{digest[:6].hex()}"
        self.salt = int.from_bytes(digest[8:16], "big")
        self.next = 0

    def take(self, count: int) -> list[str]:
        first, self.next = self.next, self.next + count
        prefix, salt = self.prefix, self.salt
        return [
            f"{prefix}{(i * _GOLDEN64 + salt) & _MASK64:016x}" for i in range(first, first + count)
        ]


def _records(
    persona: _Persona,
    instants: list[int],
    *,
    draw,
    profiles,
    profile_cum,
    models,
    model_cum,
    prefixes,
    suffix_tables,
    limited: float,
    spread,
    ids: _RequestIds,
    senders: tuple[list, list[float], list | None],
) -> Iterator[dict]:
    """The records of one persona in one hour, at the given ms offsets into the hour.

    A generator, consumed in step with the other personas' in time order: records held
    for a whole hour would survive into older garbage-collector generations and cost
    about as much again to collect as to build.
    """
    mmss = _MMSS
    steps = _LOGNORMAL_STEPS
    bisect_ = bisect.bisect
    # Per profile: its attribution and this hour's timestamp pieces in its zone.
    targets = [
        (
            p.workspace_id,
            p.workspace_name,
            p.key_id,
            p.key_name,
            *prefixes[p.zone],
            suffix_tables[p.zone],
        )
        for p in profiles
    ]
    single_target = targets[0] if len(targets) == 1 else None
    profile_total = profile_cum[-1]
    model_total = model_cum[-1]
    standard, batch, _priority = persona.tiers
    batch += standard
    single_tier = [t for t, share in zip(SERVICE_TIERS, persona.tiers, strict=True) if share == 1]
    only_tier = single_tier[0] if single_tier else None
    input_table, input_median = spread[persona.input_sigma], persona.input_median
    output_table, output_median = spread[0.8], persona.output_median
    prefix_table, prefix_median = spread[0.5], persona.prefix_median
    seconds_table = spread[1.0]
    cache_read, cache_write, write_1h = persona.cache_read, persona.cache_write, persona.write_1h
    web_search, web_search_max = persona.web_search, persona.web_search_max
    code_execution, long_context = persona.code_execution, persona.long_context
    by_requests, by_input, _by_output = persona.limit_types
    by_input += by_requests
    request_ids = ids.take(len(instants))
    accounts, account_cum, own_keys = senders
    account_total = account_cum[-1] if accounts else 0
    for n, instant in enumerate(instants):
        sec, milli = divmod(instant, 1000)
        if own_keys:  # the account first, then one of its own keys
            a = bisect_(account_cum, draw() * account_total)
            account = accounts[a]
            mine, mine_cum = own_keys[a]
            target = targets[
                mine[0] if len(mine) == 1 else mine[bisect_(mine_cum, draw() * mine_cum[-1])]
            ]
        else:
            target = single_target or targets[bisect_(profile_cum, draw() * profile_total)]
        workspace_id, workspace_name, key_id, key_name, first, second, shift, suffixes = target
        sec += shift
        if sec >= 3600:
            stamp = second + mmss[sec - 3600] + suffixes[milli]
        else:
            stamp = first + mmss[sec] + suffixes[milli]
        model = models[bisect_(model_cum, draw() * model_total)]
        if only_tier:
            tier = only_tier
        else:
            r = draw()
            tier = "standard" if r < standard else "batch" if r < batch else "priority"
        if accounts and not own_keys:
            account = accounts[bisect_(account_cum, draw() * account_total)]
        if limited and draw() < limited:
            r = draw()
            if r < by_requests:
                limit = "requests"
            else:
                limit = "input_tokens" if r < by_input else "output_tokens"
            record = {
                "request_id": request_ids[n],
                "timestamp": stamp,
                "workspace_id": workspace_id,
                "workspace_name": workspace_name,
                "api_key_id": key_id,
                "api_key_name": key_name,
                "model": model,
                "service_tier": tier,
                "status_code": 429,
                "rate_limit_type": limit,
                "usage": _zero_usage(),  # refused before any token was processed
                "code_execution_seconds": 0,
            }
            if accounts:
                record["account_id"], record["account_name"] = account
            yield record
            continue
        uncached = int(input_table[int(draw() * steps)] * input_median) + 8
        write_5m = write_1h_tokens = read = 0
        if draw() < cache_read:
            read = int(prefix_table[int(draw() * steps)] * prefix_median) + 1024
        elif draw() < cache_write:
            size = int(prefix_table[int(draw() * steps)] * prefix_median) + 1024
            if write_1h and draw() < write_1h:
                write_1h_tokens = size
            else:
                write_5m = size
        cached = read + write_5m + write_1h_tokens
        if model in LONG_CONTEXT_MODELS:
            if long_context and draw() < long_context:
                # A long document: well past 200k input tokens in total.
                uncached = max(1, 200_001 + int(draw() * 600_000) - cached)
        elif uncached + cached > _CONTEXT_LIMIT:
            # Other models refuse prompts over 200k tokens; trim the tail of the draw.
            if cached > _CONTEXT_LIMIT // 2:
                read = min(read, _CONTEXT_LIMIT // 2)
                write_5m = min(write_5m, _CONTEXT_LIMIT // 2)
                write_1h_tokens = min(write_1h_tokens, _CONTEXT_LIMIT // 2)
                cached = read + write_5m + write_1h_tokens
            uncached = max(1, min(uncached, _CONTEXT_LIMIT - cached))
        searches = 0
        if web_search and draw() < web_search:
            searches = 1 + int(draw() * web_search_max)
        seconds = 0
        if code_execution and draw() < code_execution:
            seconds = 1 + int(seconds_table[int(draw() * steps)] * 15)
        record = {
            "request_id": request_ids[n],
            "timestamp": stamp,
            "workspace_id": workspace_id,
            "workspace_name": workspace_name,
            "api_key_id": key_id,
            "api_key_name": key_name,
            "model": model,
            "service_tier": tier,
            "status_code": 200,
            "rate_limit_type": None,
            "usage": {
                "input_tokens": uncached,
                "output_tokens": int(output_table[int(draw() * steps)] * output_median) + 1,
                "cache_creation_input_tokens": write_5m + write_1h_tokens,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": write_5m,
                    "ephemeral_1h_input_tokens": write_1h_tokens,
                },
                "cache_read_input_tokens": read,
                "server_tool_use": {"web_search_requests": searches},
            },
            "code_execution_seconds": seconds,
        }
        if accounts:
            record["account_id"], record["account_name"] = account
        yield record


def _zero_usage() -> dict:
    return {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": 0,
        "server_tool_use": {"web_search_requests": 0},
    }


def _lognormal_table(sigma: float) -> tuple[float, ...]:
    """Quantiles of a log-normal factor with median 1: index it with a uniform draw."""
    normal = statistics.NormalDist()
    return tuple(
        math.exp(sigma * normal.inv_cdf((i + 0.5) / _LOGNORMAL_STEPS))
        for i in range(_LOGNORMAL_STEPS)
    )


def _ms(delta: dt.timedelta) -> int:
    return delta // dt.timedelta(milliseconds=1)


def _bursts(rng: random.Random, personas, first_local: dt.datetime, hours: int) -> list[dict]:
    """Per persona, {hour index: (weight factor, window start ms, window length ms)}.

    A burst (a deploy, a load test, an evaluation run) multiplies a persona's traffic for
    one to three hours, most of it packed into a window of minutes where limits bite.
    """
    out = []
    days = math.ceil(hours / 24) + 1
    for persona in personas:
        found: dict[int, tuple[float, int, int]] = {}
        for day in range(days):
            if rng.random() >= persona.bursts_per_day:
                continue
            # Bursts start in the persona's busy hours (local time).
            busy = [h for h in range(24) if persona.day_curve[h] >= 0.5]
            local_hour = busy[int(rng.random() * len(busy))]
            first = day * 24 + local_hour - first_local.hour
            factor = 3.0 + 5.0 * rng.random()
            for h in range(first, first + 1 + int(rng.random() * 3)):
                if 0 <= h < hours:
                    window = int((5 + 25 * rng.random()) * 60_000)
                    w_start = int(rng.random() * (_MS_PER_HOUR - window))
                    found[h] = (factor, w_start, window)
        out.append(found)
    return out
