"""Pure cost arithmetic: which price applies, and the exact cost lines of some usage.

Nothing here touches the database. ``PriceBook`` holds price rows (shipped defaults and one
organisation's own), ``cost_lines`` turns summed usage of one model / tier / context window
on one UTC date into lines in the Cost API's terms, ``RateCard`` prices the same usage as
integer counts of 1e-12 USD (for adding up many sums exactly and fast), and
``code_execution_free_ms`` spends the monthly free code-execution allowance in time order.

Money is ``Decimal`` USD throughout. Token and web-search amounts are exact (rates have at
most 6 decimal places per million tokens, so a token amount has at most 12); code execution
(rate per hour x milliseconds / 3,600,000) is rounded half-even to 1e-12 USD, the one place
a division does not terminate. Sums of lines are therefore exact sums of what is shown.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

AMOUNT_PLACES = 12
AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)
MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1_000)
MS_PER_HOUR = 3_600_000
ZERO = Decimal(0)

STANDARD, BATCH, PRIORITY = "standard", "batch", "priority"
SHORT_CONTEXT, LONG_CONTEXT = "0-200k", "200k-1M"
TOKENS, WEB_SEARCH, CODE_EXECUTION = "tokens", "web_search", "code_execution"
COST_TYPES = {TOKENS: "Tokens", WEB_SEARCH: "Web search", CODE_EXECUTION: "Code execution"}


@dataclass(frozen=True)
class TokenType:
    field: str  # the counter on buckets
    api_name: str  # the Cost API's token_type
    label: str  # as in the Cost API's description
    rate: str  # the attribute of TokenRates


TOKEN_TYPES = (
    TokenType("uncached_input_tokens", "uncached_input_tokens", "Input Tokens", "input_per_mtok"),
    TokenType(
        "cache_write_5m_tokens",
        "cache_creation.ephemeral_5m_input_tokens",
        "5m Cache Write Tokens",
        "cache_write_5m_per_mtok",
    ),
    TokenType(
        "cache_write_1h_tokens",
        "cache_creation.ephemeral_1h_input_tokens",
        "1h Cache Write Tokens",
        "cache_write_1h_per_mtok",
    ),
    TokenType(
        "cache_read_tokens", "cache_read_input_tokens", "Cache Read Tokens", "cache_read_per_mtok"
    ),
    TokenType("output_tokens", "output_tokens", "Output Tokens", "output_per_mtok"),
)
TOKEN_TYPE_LABELS = {t.api_name: t.label for t in TOKEN_TYPES}
COUNT_FIELDS = tuple(t.field for t in TOKEN_TYPES) + ("web_search_requests", "code_execution_ms")


@dataclass(frozen=True)
class TokenRates:
    """USD per million tokens for one pattern / tier / window, from one date."""

    model_pattern: str
    service_tier: str
    context_window: str
    effective_from: dt.date
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_write_5m_per_mtok: Decimal
    cache_write_1h_per_mtok: Decimal
    cache_read_per_mtok: Decimal
    org_specific: bool = False
    source: str = ""
    id: int | None = None

    def matches(self, model_id: str) -> bool:
        if self.model_pattern.endswith("*"):
            return model_id.startswith(self.model_pattern[:-1])
        return model_id == self.model_pattern

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact ids beat prefixes; a longer prefix beats a shorter one."""
        exact = not self.model_pattern.endswith("*")
        return (1 if exact else 0, len(self.model_pattern.rstrip("*")))


@dataclass(frozen=True)
class ToolRate:
    """Web search: USD per 1,000 searches. Code execution: USD per container-hour."""

    kind: str
    effective_from: dt.date
    unit_price: Decimal
    free_hours_per_month: Decimal = ZERO
    org_specific: bool = False
    source: str = ""
    id: int | None = None


def token_rates_from(row) -> TokenRates:
    """A TokenRates from anything with ModelPrice's attributes."""
    return TokenRates(
        model_pattern=row.model_pattern,
        service_tier=row.service_tier,
        context_window=row.context_window,
        effective_from=row.effective_from,
        input_per_mtok=Decimal(row.input_per_mtok),
        output_per_mtok=Decimal(row.output_per_mtok),
        cache_write_5m_per_mtok=Decimal(row.cache_write_5m_per_mtok),
        cache_write_1h_per_mtok=Decimal(row.cache_write_1h_per_mtok),
        cache_read_per_mtok=Decimal(row.cache_read_per_mtok),
        org_specific=row.org_id is not None,
        source=row.source,
        id=row.pk,
    )


def tool_rate_from(row) -> ToolRate:
    """A ToolRate from anything with ToolPrice's attributes."""
    return ToolRate(
        kind=row.kind,
        effective_from=row.effective_from,
        unit_price=Decimal(row.unit_price),
        free_hours_per_month=Decimal(row.free_hours_per_month),
        org_specific=row.org_id is not None,
        source=row.source,
        id=row.pk,
    )


class PriceBook:
    """The prices one organisation sees: its own rows first, then the shipped defaults.

    For usage of ``model_id`` in ``tier`` / ``window`` on UTC date ``day`` the rate is found
    by trying, in order: the tier itself, then (for priority only) standard; within a tier,
    the window itself, then (for 200k-1M only) 0-200k, as models without long-context prices
    bill long requests at their normal rates; within a window, the organisation's rows, then
    the defaults. Among the rows of one step that match the model and are in force on
    ``day``, the most specific pattern wins, and for one pattern the latest date.
    """

    def __init__(self, token_rates: Iterable[TokenRates], tool_rates: Iterable[ToolRate] = ()):
        self.token_rates = list(token_rates)
        self.tool_rates = sorted(tool_rates, key=lambda r: (r.org_specific, r.effective_from))
        self._cache: dict[tuple, TokenRates | None] = {}
        self._step_cache: dict[tuple, list[list[TokenRates]]] = {}
        self._change_dates: list[dt.date] | None = None

    def change_dates(self) -> list[dt.date]:
        """Every date on which some price comes into force."""
        dates = {r.effective_from for r in self.token_rates}
        dates.update(r.effective_from for r in self.tool_rates)
        return sorted(dates)

    def price_date(self, day: dt.date) -> dt.date:
        """The date whose prices are the ones in force on ``day``: the latest change date on
        or before it (every lookup gives the same answer for both), else ``day`` itself."""
        if self._change_dates is None:
            self._change_dates = self.change_dates()
        i = bisect.bisect_right(self._change_dates, day)
        return self._change_dates[i - 1] if i else day

    def token_rates_for(
        self, model_id: str, tier: str, window: str, day: dt.date
    ) -> TokenRates | None:
        """The token rates in force for this usage on this UTC date, or None if unpriced."""
        key = (model_id, tier, window, day)
        if key not in self._cache:
            self._cache[key] = self._find(model_id, tier, window, day)
        return self._cache[key]

    def _find(self, model_id, tier, window, day):
        for step in self._steps(model_id, tier, window):
            found = [r for r in step if r.effective_from <= day]
            if found:
                return max(found, key=lambda r: (r.specificity, r.effective_from))
        return None

    def _steps(self, model_id: str, tier: str, window: str) -> list[list[TokenRates]]:
        """The rows matching a model for each lookup step, in order (dates not yet applied)."""
        key = (model_id, tier, window)
        if key not in self._step_cache:
            tiers = [tier] + ([STANDARD] if tier == PRIORITY else [])
            windows = [window] + ([SHORT_CONTEXT] if window == LONG_CONTEXT else [])
            matching = [r for r in self.token_rates if r.matches(model_id)]
            self._step_cache[key] = [
                [
                    r
                    for r in matching
                    if r.org_specific == org_specific
                    and r.service_tier == try_tier
                    and r.context_window == try_window
                ]
                for try_tier in tiers
                for try_window in windows
                for org_specific in (True, False)
            ]
        return self._step_cache[key]

    def tool_rate_for(self, kind: str, day: dt.date) -> ToolRate | None:
        """The web-search or code-execution price in force on this UTC date, or None."""
        for org_specific in (True, False):
            found = [
                r
                for r in self.tool_rates
                if r.kind == kind and r.org_specific == org_specific and r.effective_from <= day
            ]
            if found:
                return found[-1]
        return None


@dataclass(frozen=True)
class CostLine:
    """One line of cost in the Cost API's terms; ``amount`` None means unpriced."""

    description: str
    model: str
    cost_type: str
    token_type: str
    service_tier: str
    context_window: str
    quantity: int  # tokens, web searches, or code-execution milliseconds
    amount: Decimal | None
    free_quantity: int = 0  # code execution: milliseconds covered by the free allowance

    @property
    def unpriced(self) -> bool:
        return self.amount is None


@dataclass
class Usage:
    """Summed counters of some buckets (one model / tier / window)."""

    uncached_input_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    web_search_requests: int = 0
    code_execution_ms: int = 0

    @classmethod
    def of(cls, values: dict) -> Usage:
        return cls(**{name: int(values.get(name) or 0) for name in COUNT_FIELDS})


def _exact(value: Decimal) -> Decimal:
    return value.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN)


def token_amount(tokens: int, usd_per_mtok: Decimal) -> Decimal:
    """Exact USD for ``tokens`` at a per-million-token rate."""
    with localcontext() as ctx:
        ctx.prec = 60
        return _exact(Decimal(tokens) * usd_per_mtok / MILLION)


def web_search_amount(searches: int, usd_per_thousand: Decimal) -> Decimal:
    """Exact USD for ``searches`` at a per-1,000 rate."""
    with localcontext() as ctx:
        ctx.prec = 60
        return _exact(Decimal(searches) * usd_per_thousand / THOUSAND)


def code_execution_amount(billable_ms: int, usd_per_hour: Decimal) -> Decimal:
    """USD for billable container milliseconds, rounded half-even to 1e-12."""
    with localcontext() as ctx:
        ctx.prec = 60
        return _exact(Decimal(billable_ms) * usd_per_hour / MS_PER_HOUR)


def cost_lines(
    usage: Usage,
    *,
    model_id: str,
    model_name: str,
    service_tier: str,
    context_window: str,
    day: dt.date,
    book: PriceBook,
    code_execution_free_ms: int = 0,
) -> list[CostLine]:
    """The cost lines of usage of one model / tier / window on one UTC date.

    ``code_execution_free_ms`` is the part of ``usage.code_execution_ms`` covered by the
    organisation's monthly allowance (see ``code_execution_free_ms``); only the rest is billed.
    """
    lines = []
    rates = book.token_rates_for(model_id, service_tier, context_window, day)
    for token_type in TOKEN_TYPES:
        tokens = getattr(usage, token_type.field)
        if not tokens:
            continue
        amount = None if rates is None else token_amount(tokens, getattr(rates, token_type.rate))
        lines.append(
            CostLine(
                description=f"{model_name} Usage - {token_type.label}",
                model=model_id,
                cost_type=TOKENS,
                token_type=token_type.api_name,
                service_tier=service_tier,
                context_window=context_window,
                quantity=tokens,
                amount=amount,
            )
        )
    if usage.web_search_requests:
        rate = book.tool_rate_for(WEB_SEARCH, day)
        lines.append(
            CostLine(
                description="Web Search Usage",
                model=model_id,
                cost_type=WEB_SEARCH,
                token_type="",
                service_tier=service_tier,
                context_window=context_window,
                quantity=usage.web_search_requests,
                amount=None
                if rate is None
                else web_search_amount(usage.web_search_requests, rate.unit_price),
            )
        )
    if usage.code_execution_ms:
        rate = book.tool_rate_for(CODE_EXECUTION, day)
        free = min(code_execution_free_ms, usage.code_execution_ms) if rate else 0
        lines.append(
            CostLine(
                description="Code Execution Usage",
                model=model_id,
                cost_type=CODE_EXECUTION,
                token_type="",
                service_tier=service_tier,
                context_window=context_window,
                quantity=usage.code_execution_ms,
                free_quantity=free,
                amount=None
                if rate is None
                else code_execution_amount(usage.code_execution_ms - free, rate.unit_price),
            )
        )
    return lines


# Counting in whole 1e-12 USD ("pico") while adding up: integers add exactly and fast, and
# every amount above is a whole number of them (token and web-search rates have at most 6
# decimal places, so tokens x rate is exact; code execution is rounded to 1e-12).
PICO_PER_USD = 10**12
_WIDE = Context(prec=60)
CODE_KIND = len(COUNT_FIELDS) - 1  # code_execution_ms, the last counter


def to_pico(amount: Decimal) -> int:
    """An amount that is a multiple of 1e-12 USD, as a count of 1e-12 USD."""
    scaled = amount.scaleb(AMOUNT_PLACES, _WIDE)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of 1e-12 USD")
    return int(scaled)


def from_pico(pico: int) -> Decimal:
    """A count of 1e-12 USD as a Decimal amount (exact, 12 decimal places)."""
    return Decimal(pico).scaleb(-AMOUNT_PLACES, _WIDE)


def _per_unit(rate: Decimal, units: int) -> int | Decimal:
    """``rate`` USD per ``units`` as whole 1e-12 USD per unit, or the Decimal rate if not whole."""
    scaled = _WIDE.divide(_WIDE.multiply(rate, PICO_PER_USD), units)
    return int(scaled) if scaled == scaled.to_integral_value() else rate


def code_execution_pico(billable_ms: int, per_hour: int | Decimal) -> int:
    """``code_execution_amount`` in 1e-12 USD; ``per_hour`` in 1e-12 USD (int) or USD.

    With a whole rate the division is done on integers, rounding half to even exactly as
    the Decimal version does: that divides to 60 digits first, which keeps a tie (an exact
    quotient) exact, and no other quotient of n / 3,600,000 lies near enough to a tie to be
    rounded onto it.
    """
    if type(per_hour) is not int:
        return to_pico(code_execution_amount(billable_ms, per_hour))
    quotient, rest = divmod(billable_ms * per_hour, MS_PER_HOUR)
    if 2 * rest > MS_PER_HOUR or (2 * rest == MS_PER_HOUR and quotient % 2):
        quotient += 1
    return quotient


@dataclass(frozen=True)
class RateCard:
    """The rates of one model / tier / window on one UTC date, one per counter.

    ``per_unit`` follows COUNT_FIELDS: for each counter, whole 1e-12 USD per unit (int; per
    container-hour for code execution), the USD rate when that is not whole (Decimal, priced
    like ``cost_lines``), or None when unpriced. ``pico`` gives exactly the amount
    ``cost_lines`` gives for the same quantity, so usage summed over any number of buckets
    can be priced once.
    """

    per_unit: tuple[int | Decimal | None, ...]

    @classmethod
    def of(cls, book: PriceBook, model_id: str, tier: str, window: str, day: dt.date):
        rates = book.token_rates_for(model_id, tier, window, day)
        web = book.tool_rate_for(WEB_SEARCH, day)
        code = book.tool_rate_for(CODE_EXECUTION, day)
        per_unit = [
            None if rates is None else _per_unit(getattr(rates, t.rate), 1_000_000)
            for t in TOKEN_TYPES
        ]
        per_unit.append(None if web is None else _per_unit(web.unit_price, 1_000))
        # Code execution: per container-hour; milliseconds are divided and rounded.
        per_unit.append(None if code is None else _per_unit(code.unit_price, 1))
        return cls(tuple(per_unit))

    def pico(self, counter: int, quantity: int) -> int | None:
        """The amount of ``quantity`` of counter ``counter`` in 1e-12 USD (None if unpriced).

        For code execution ``quantity`` is the billable milliseconds (after the allowance).
        """
        rate = self.per_unit[counter]
        if rate is None:
            return None
        if counter == CODE_KIND:
            return code_execution_pico(quantity, rate)
        if type(rate) is int:
            return quantity * rate
        if counter == CODE_KIND - 1:
            return to_pico(web_search_amount(quantity, rate))
        return to_pico(token_amount(quantity, rate))


def allowance_ms(rate: ToolRate | None) -> int:
    """The monthly free code-execution allowance of a price, in milliseconds."""
    if rate is None:
        return 0
    return int(rate.free_hours_per_month * MS_PER_HOUR)


def month_start(moment: dt.datetime) -> dt.datetime:
    """The first instant of the UTC calendar month containing ``moment``."""
    moment = moment.astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def code_execution_free_ms(
    hours: Iterable[tuple[dt.datetime, int]],
    allowance_at: Callable[[dt.datetime], int],
) -> dict[dt.datetime, int]:
    """How much of each UTC hour's code execution the free allowance covers.

    ``hours`` are (UTC hour start, the organisation's code-execution ms in that hour), from
    the start of each UTC month concerned. The allowance is spent in time order, so it
    covers the earliest hours of the month: an hour gets ``min(ms, allowance - used)`` where
    ``used`` is the month's code execution before that hour and ``allowance`` is the
    allowance of the price in force at that hour (a price change mid-month changes the
    allowance from that hour on). Hours absent from the result have nothing free.
    """
    free: dict[dt.datetime, int] = {}
    used_by_month: dict[dt.datetime, int] = {}
    for start, ms in sorted(hours):
        month = month_start(start)
        used = used_by_month.get(month, 0)
        covered = max(0, min(ms, allowance_at(start) - used))
        if covered:
            free[start] = covered
        used_by_month[month] = used + ms
    return free


def split_free(free_ms: int, pieces: Sequence[tuple[object, int]]) -> dict[object, int]:
    """Share ``free_ms`` among (key, ms) pieces in the order given, earliest first."""
    shares = {}
    left = free_ms
    for key, ms in pieces:
        take = min(left, ms)
        if take:
            shares[key] = take
        left -= take
    return shares
