import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from costs.pricing import (
    COUNT_FIELDS,
    CostLine,
    PriceBook,
    RateCard,
    TokenRates,
    ToolRate,
    Usage,
    code_execution_amount,
    code_execution_free_ms,
    code_execution_pico,
    cost_lines,
    from_pico,
    split_free,
    to_pico,
)
from costs.selectors import price_book

D = Decimal
DAY = dt.date(2026, 5, 10)


def rates(
    pattern,
    tier="standard",
    window="0-200k",
    since=dt.date(2024, 1, 1),
    *,
    org=False,
    inp="3",
    w5="3.75",
    w1="6",
    read="0.30",
    out="15",
):
    return TokenRates(
        pattern, tier, window, since, D(inp), D(out), D(w5), D(w1), D(read), org_specific=org
    )


def lines_of(
    usage,
    book,
    model="claude-sonnet-4-5-20250929",
    tier="standard",
    window="0-200k",
    day=DAY,
    free=0,
):
    return cost_lines(
        usage,
        model_id=model,
        model_name="Claude X",
        service_tier=tier,
        context_window=window,
        day=day,
        book=book,
        code_execution_free_ms=free,
    )


def test_every_token_type_is_priced_exactly_with_cost_api_names():
    book = PriceBook([rates("claude-sonnet-4-5*")])
    usage = Usage(
        uncached_input_tokens=1,
        cache_write_5m_tokens=2,
        cache_write_1h_tokens=3,
        cache_read_tokens=4,
        output_tokens=5,
    )
    got = {line.token_type: line for line in lines_of(usage, book)}
    assert {k: v.amount for k, v in got.items()} == {
        "uncached_input_tokens": D("0.000003"),
        "cache_creation.ephemeral_5m_input_tokens": D("0.0000075"),
        "cache_creation.ephemeral_1h_input_tokens": D("0.000018"),
        "cache_read_input_tokens": D("0.0000012"),
        "output_tokens": D("0.000075"),
    }
    assert got["uncached_input_tokens"].description == "Claude X Usage - Input Tokens"
    assert got["output_tokens"].description == "Claude X Usage - Output Tokens"
    assert all(
        line.cost_type == "tokens" and line.service_tier == "standard" for line in got.values()
    )


def test_a_huge_count_stays_exact():
    book = PriceBook([rates("m", inp="0.015")])
    [line] = lines_of(Usage(uncached_input_tokens=123_456_789_012_345), book, model="m")
    assert Fraction(line.amount) == Fraction(123_456_789_012_345) * Fraction("0.015") / 10**6


def test_org_price_beats_default_from_its_date_and_exact_beats_prefix():
    book = PriceBook(
        [
            rates("claude-sonnet-4*", inp="3"),
            rates("claude-sonnet-4-5*", inp="2.5"),
            rates("claude-sonnet-4-5-20250929", inp="2.4"),
            rates("claude-sonnet-4*", inp="1", org=True, since=dt.date(2026, 5, 15)),
            rates("claude-sonnet-4*", inp="3.3", since=dt.date(2026, 6, 1)),
        ]
    )
    model = "claude-sonnet-4-5-20250929"
    assert book.token_rates_for(model, "standard", "0-200k", DAY).input_per_mtok == D("2.4")
    assert book.token_rates_for(
        "claude-sonnet-4-5-x", "standard", "0-200k", DAY
    ).input_per_mtok == D("2.5")
    assert book.token_rates_for(
        model, "standard", "0-200k", dt.date(2026, 5, 15)
    ).input_per_mtok == D("1")
    assert book.token_rates_for(
        "claude-sonnet-4-0", "standard", "0-200k", dt.date(2026, 6, 2)
    ).input_per_mtok == D("1")
    assert book.token_rates_for("claude-opus-4-5", "standard", "0-200k", DAY) is None


def test_priority_uses_standard_unless_a_priority_price_exists():
    book = PriceBook([rates("a*"), rates("b*"), rates("b*", "priority", inp="4.5")])
    assert book.token_rates_for("a1", "priority", "0-200k", DAY).input_per_mtok == D("3")
    assert book.token_rates_for("b1", "priority", "0-200k", DAY).input_per_mtok == D("4.5")
    assert book.token_rates_for("a1", "batch", "0-200k", DAY) is None  # never guessed


def test_long_context_uses_its_own_rate_or_falls_back_to_normal_rates():
    book = PriceBook([rates("s*"), rates("s*", window="200k-1M", inp="6"), rates("o*", inp="5")])
    assert book.token_rates_for("s1", "standard", "200k-1M", DAY).input_per_mtok == D("6")
    assert book.token_rates_for("o1", "standard", "200k-1M", DAY).input_per_mtok == D("5")


def test_unpriced_model_is_reported_with_tokens_never_zero():
    lines = lines_of(Usage(output_tokens=77, web_search_requests=2), PriceBook([]))
    assert [(line.token_type, line.quantity, line.amount) for line in lines] == [
        ("output_tokens", 77, None),
        ("", 2, None),
    ]
    assert all(isinstance(line, CostLine) and line.unpriced for line in lines)


def test_web_search_and_code_execution_lines():
    book = PriceBook(
        [],
        [
            ToolRate("web_search", dt.date(2024, 1, 1), D("10")),
            ToolRate("code_execution", dt.date(2024, 1, 1), D("0.05")),
        ],
    )
    web, code = lines_of(
        Usage(web_search_requests=3, code_execution_ms=7_200_000 + 1), book, free=3_600_000
    )
    assert (web.description, web.cost_type, web.amount) == (
        "Web Search Usage",
        "web_search",
        D("0.03"),
    )
    assert (code.description, code.cost_type) == ("Code Execution Usage", "code_execution")
    assert code.free_quantity == 3_600_000
    # 1 hour and 1 ms billed at $0.05/h: 0.05 + 0.05/3,600,000, rounded to 1e-12
    assert code.amount == D("0.050000013889")
    assert code_execution_amount(1, D("0.05")) == D("0.000000013889")


def card_amounts(card, usage, free=0):
    """The amounts a RateCard gives for usage, in cost_lines' order, as Decimals."""
    out = []
    for counter, name in enumerate(COUNT_FIELDS):
        quantity = getattr(usage, name)
        if not quantity:
            continue
        if name == "code_execution_ms" and card.per_unit[counter] is not None:
            quantity -= free
        pico = card.pico(counter, quantity)
        out.append(None if pico is None else from_pico(pico))
    return out


@pytest.mark.parametrize(
    "token_rates",
    [
        {},  # the usual prices: whole 1e-12 USD per token
        {"inp": "0.000001", "out": "123456.654321", "read": "0"},  # 6 decimals, the most stored
        {"inp": "0.0000001", "out": "3.1415926535"},  # more: rounded per amount like cost_lines
    ],
)
def test_rate_card_prices_exactly_as_cost_lines(token_rates):
    tools = [
        ToolRate("web_search", dt.date(2024, 1, 1), D("10.000007")),
        ToolRate("code_execution", dt.date(2024, 1, 1), D("0.05")),
    ]
    book = PriceBook([rates("m*", **token_rates)], tools)
    for usage, free in (
        (Usage(1, 2, 3, 4, 5, 6, 7), 3),
        (Usage(999_999_937, 123_457, 0, 400_009, 5_011, 0, 7_200_001), 3_600_000),
        (Usage(output_tokens=123_456_789_012_345, web_search_requests=1), 0),
    ):
        want = [line.amount for line in lines_of(usage, book, model="m1", free=free)]
        card = RateCard.of(book, "m1", "standard", "0-200k", DAY)
        assert card_amounts(card, usage, free) == want
        unpriced = RateCard.of(book, "x1", "standard", "0-200k", DAY)
        assert card_amounts(unpriced, usage, free) == [
            line.amount for line in lines_of(usage, book, model="x1", free=free)
        ]


@pytest.mark.parametrize("per_hour", ["0.05", "0.0000018", "0.000007", "123.456789", "0"])
def test_code_execution_in_integers_rounds_as_the_decimal_version(per_hour):
    # 0.0000018/h is 1e-12 USD per 2 s: every odd second is a tie, rounded to even.
    rate = D(per_hour)
    whole = int(rate.scaleb(12))
    for ms in [*range(0, 5000, 7), 1_000, 3_000, 5_000, 7_200_001, 10**12 + 1]:
        want = code_execution_amount(ms, rate)
        assert from_pico(code_execution_pico(ms, whole)) == want
        assert from_pico(code_execution_pico(ms, rate)) == want  # the Decimal fallback


def test_pico_round_trip_is_exact_and_refuses_finer_amounts():
    assert from_pico(to_pico(D("1234567.000000000001"))) == D("1234567.000000000001")
    assert to_pico(D("0.05")) == 50_000_000_000
    with pytest.raises(ValueError):
        to_pico(D("0.0000000000001"))


def test_price_date_is_the_latest_change_on_or_before_a_day():
    book = PriceBook(
        [rates("m*"), rates("m*", since=dt.date(2026, 5, 15), inp="2")],
        [ToolRate("web_search", dt.date(2026, 5, 20), D("12"))],
    )
    assert book.price_date(dt.date(2026, 5, 14)) == dt.date(2024, 1, 1)
    assert book.price_date(dt.date(2026, 5, 15)) == dt.date(2026, 5, 15)
    assert book.price_date(dt.date(2026, 5, 19)) == dt.date(2026, 5, 15)
    assert book.price_date(dt.date(2026, 6, 1)) == dt.date(2026, 5, 20)
    assert book.price_date(dt.date(2020, 1, 1)) == dt.date(2020, 1, 1)  # nothing in force
    for day in (dt.date(2026, 5, d) for d in range(10, 25)):
        same = book.price_date(day)
        assert book.token_rates_for("m1", "standard", "0-200k", same) == book.token_rates_for(
            "m1", "standard", "0-200k", day
        )
        assert book.tool_rate_for("web_search", same) == book.tool_rate_for("web_search", day)


def test_free_allowance_is_spent_in_time_order_per_utc_month():
    h = dt.timedelta(hours=1)
    may = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    june = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    hours = [
        (may + 5 * h, 3_000_000),
        (may, 2_000_000),
        (may + 30 * h, 4_000_000),
        (june + h, 1_000_000),
    ]
    free = code_execution_free_ms(hours, lambda moment: 6_000_000)
    # earliest first: 2.0M + 3.0M free, then 1.0M of the 4.0M; June starts afresh
    assert free == {
        may: 2_000_000,
        may + 5 * h: 3_000_000,
        may + 30 * h: 1_000_000,
        june + h: 1_000_000,
    }


def test_a_raised_allowance_mid_month_frees_later_hours():
    may = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    later = may + dt.timedelta(days=20)
    free = code_execution_free_ms(
        [(may, 5), (may + dt.timedelta(hours=1), 5), (later, 5)],
        lambda moment: 6 if moment < later else 12,
    )
    assert free == {may: 5, may + dt.timedelta(hours=1): 1, later: 2}


def test_split_free_goes_to_the_earliest_pieces():
    assert split_free(7, [("a", 5), ("b", 5), ("c", 5)]) == {"a": 5, "b": 2}


REFERENCE = {  # /work/shared/reference/anthropic-public-facts.md, typed in by hand
    "claude-opus-4-7-20260301": ("5", "6.25", "10", "0.50", "25"),
    "claude-opus-4-5-20251101": ("5", "6.25", "10", "0.50", "25"),
    "claude-opus-4-1-20250805": ("15", "18.75", "30", "1.50", "75"),
    "claude-opus-4-20250514": ("15", "18.75", "30", "1.50", "75"),
    "claude-3-opus-20240229": ("15", "18.75", "30", "1.50", "75"),
    "claude-sonnet-4-6": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-5-20250929": ("3", "3.75", "6", "0.30", "15"),
    "claude-sonnet-4-20250514": ("3", "3.75", "6", "0.30", "15"),
    "claude-3-7-sonnet-20250219": ("3", "3.75", "6", "0.30", "15"),
    "claude-haiku-4-5-20251001": ("1", "1.25", "2", "0.10", "5"),
    "claude-3-5-haiku-20241022": ("0.80", "1", "1.60", "0.08", "4"),
    "claude-3-haiku-20240307": ("0.25", "0.30", "0.50", "0.03", "1.25"),
}
LONG = ("6", "7.50", "12", "0.60", "22.50")
FIELDS = (
    "input_per_mtok",
    "cache_write_5m_per_mtok",
    "cache_write_1h_per_mtok",
    "cache_read_per_mtok",
    "output_per_mtok",
)


def as_tuple(found):
    return tuple(getattr(found, f) for f in FIELDS)


@pytest.mark.parametrize("model", sorted(REFERENCE))
def test_shipped_defaults_are_the_public_prices(org, model):
    book = price_book(org)
    expected = tuple(D(v) for v in REFERENCE[model])
    assert as_tuple(book.token_rates_for(model, "standard", "0-200k", DAY)) == expected
    assert as_tuple(book.token_rates_for(model, "priority", "0-200k", DAY)) == expected
    assert as_tuple(book.token_rates_for(model, "batch", "0-200k", DAY)) == tuple(
        v / 2 for v in expected
    )
    long_expected = expected
    if model in ("claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514"):
        long_expected = tuple(D(v) for v in LONG)
    assert as_tuple(book.token_rates_for(model, "standard", "200k-1M", DAY)) == long_expected
    assert as_tuple(book.token_rates_for(model, "batch", "200k-1M", DAY)) == tuple(
        v / 2 for v in long_expected
    )


def test_shipped_tool_prices(org):
    book = price_book(org)
    assert book.tool_rate_for("web_search", DAY).unit_price == D("10")
    code = book.tool_rate_for("code_execution", DAY)
    assert (code.unit_price, code.free_hours_per_month) == (D("0.05"), D("1550"))
    assert book.token_rates_for("claude-2.1", "standard", "0-200k", DAY) is None
