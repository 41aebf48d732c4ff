"""The one chart layer: Plotly-safe names, one palette, figures the charts.js draws."""

import json
import re

from console import charts

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
    assert trace["text"][0].startswith("&lt;b&gt;x&lt;/b&gt;, 09:00<br>Input 30:")
    assert trace["text"][1].startswith("&lt;b&gt;x&lt;/b&gt;, 10:00<br>")
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
    assert trace["text"][1] == "2026-05-02<br>A&amp;B: $0.2000001"
    assert figure["drills"][1] == "/cost/?day=2026-05-02"


def test_rate_limit_use_names_models_as_text():
    use = [
        {"model_id": 5, "model": "m<i>", "period": 0, "peak_input_tpm": 9, "input_limit": 10},
    ]
    figure = charts.rate_limit_use(["09:00"], use)
    names = [t["name"] for t in figure["data"]]
    assert names == ["m&lt;i&gt; input/min", "m&lt;i&gt; input limit"]
    assert not any(re.search(r"<i>", t["hovertemplate"]) for t in figure["data"])


def test_script_keeps_the_figure_inside_its_script_tag():
    html = charts.script({"data": [{"name": "</script><script>alert(1)"}]}, "f")
    assert html.count("</script>") == 1
    body = re.search(r'<script id="f" type="application/json">(.*)</script>', html).group(1)
    assert json.loads(body)["data"][0]["name"] == "</script><script>alert(1)"
