"""The one chart layer: Plotly-safe names, one palette, figures the charts.js draws."""

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

from console import charts, timeslice

CELL = {
    "input_tokens": 30,
    "uncached_input_tokens": 10,
    "cache_write_tokens": 10,
    "cache_read_tokens": 10,
    "output_tokens": 5,
    "requests": 2,
}


def test_text_makes_plotly_show_html_as_characters():
    assert charts.text('<a href="https://example.com">x</a> & <b>') == (
        '&lt;a href="https://example.com"&gt;x&lt;/a&gt; &amp; &lt;b&gt;'
    )
    assert charts.text("Claude Sonnet 4.5") == "Claude Sonnet 4.5"


def test_a_series_keeps_its_colour_whatever_else_is_in_view():
    alone = charts.colors([7])
    with_others = charts.colors([3, 7, 12])
    assert with_others[1] == alone[0]
    assert len(set(charts.colors(list(range(1, 11))))) == 10  # ten series, ten colours


def test_on_a_shared_colour_the_smaller_identity_keeps_it_in_any_order():
    # 4 and 14 land on the same colour: 4 keeps it, in whichever order they are listed.
    assert charts.colors([14, 4])[1] == charts.colors([4])[0]
    assert charts.colors([4, 14])[0] == charts.colors([4])[0]
    assert len(set(charts.colors([14, 4]))) == 2


def test_grouped_usage_escapes_names_in_legend_and_hover_and_uses_no_bold():
    figure = charts.usage_groups(
        ["09:00", "10:00"],
        [{"identity": 1, "label": "<b>x</b>", "cells": [CELL, CELL]}],
        [None, None],
    )
    (trace,) = figure["data"]
    assert trace["name"] == "&lt;b&gt;x&lt;/b&gt;"
    assert trace["text"] == ["&lt;b&gt;x&lt;/b&gt;: 35 (100%)"] * 2
    assert trace["y"] == [35, 35]
    # Plotly draws <b> with a style attribute, which the Content-Security-Policy refuses.
    assert "<b>" not in json.dumps(figure)


def test_cost_hover_shows_exact_amounts_and_bars_open_their_day():
    figure = charts.cost(
        ["2026-05-01", "2026-05-02"],
        [{"identity": 2, "name": "A&B", "y": [0.1, 0.2], "exact": ["$0.1", "$0.2000001"]}],
        ["/cost/?day=2026-05-01", "/cost/?day=2026-05-02"],
    )
    (trace,) = figure["data"]
    assert trace["name"] == "A&amp;B"
    assert trace["text"][1] == "A&amp;B: $0.2000001 (100%)"
    assert figure["drills"][1] == "/cost/?day=2026-05-02"


def _use(model_id, name, period=0, **peaks):
    row = {"model_id": model_id, "model": name, "period": period}
    for peak, limit, _unit in charts._LIMITS:
        row[peak], row[limit] = peaks.get(peak, 0), peaks.get(limit)
    return row


def test_rate_limit_use_is_each_models_highest_share_of_its_limits():
    use = [
        # 40k of a 4M input limit (1%), but 45 of 50 requests a minute (90%): 90% it is.
        _use(5, "m<i>", peak_input_tpm=40_000, input_limit=4_000_000, peak_rpm=45,
             requests_limit=50),
        _use(6, "no limits", peak_input_tpm=10),  # nothing to be a share of: table only
    ]  # fmt: skip
    figure = charts.rate_limit_use(["09:00"], use)
    (trace,) = figure["data"]
    assert trace["name"] == "m&lt;i&gt;"
    assert trace["y"] == [0.9]
    assert trace["text"] == ["m&lt;i&gt;: 90% (45 requests/min of 50)"]
    assert figure["layout"]["yaxis"]["tickformat"] == ".0%"
    assert figure["layout"]["shapes"][0]["y0"] == 1  # the limit itself
    assert "<i>" not in json.dumps(figure)


def test_hover_names_each_part_with_its_share_of_the_bar():
    cell = {**CELL, "uncached_input_tokens": 10, "cache_write_tokens": 0, "cache_read_tokens": 20}
    figure = charts.usage_tokens(["Nov 1"], [cell], [None])
    assert [t["text"][0] for t in figure["data"]] == [
        "Input: uncached: 10 (29%)",
        "Input: cache writes: 0 (0%)",
        "Input: cache reads: 20 (57%)",
        "Output: 5 (14%) · 2 requests",
    ]
    assert figure["layout"]["hovermode"] == "x unified"


def test_axes_read_as_a_console_reads_them():
    zone = ZoneInfo("America/New_York")
    _level, days = timeslice.periods_for(zone, 2026, 11)
    labels = charts.axis_labels(days)
    assert labels[:2] == ["Nov 1", "Nov 2"] and len(set(labels)) == 30
    _level, hours = timeslice.periods_for(zone, 2026, 11, day=dt.date(2026, 11, 1))
    assert charts.axis_labels(hours)[1:3] == ["01:00 EDT", "01:00 EST"]  # the repeated hour
    layout = charts.usage_tokens(labels, [CELL] * 30, [None] * 30)["layout"]
    assert layout["xaxis"]["tickangle"] == 0 and layout["xaxis"]["nticks"] <= 16
    assert "tickformat" not in layout["yaxis"]  # Plotly's short form: 30M, not 30,000,000
    assert layout["yaxis"]["exponentformat"] == "B"
    assert layout["legend"]["y"] > 1  # above the plot: never over bars or tick labels


def test_token_types_and_groups_never_share_a_colour():
    assert not set(charts.TOKEN_KIND_COLORS) & set(charts.PALETTE)


def test_script_keeps_the_figure_inside_its_script_tag():
    html = charts.script({"data": [{"name": "</script><script>alert(1)"}]}, "f")
    assert html.count("</script>") == 1
    body = re.search(r'<script id="f" type="application/json">(.*)</script>', html).group(1)
    assert json.loads(body)["data"][0]["name"] == "</script><script>alert(1)"
