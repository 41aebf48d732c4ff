"""Every chart's Plotly figure, built here as plain dicts that static/console/charts.js draws.

A figure is ``{"data": [traces], "layout": {...}, "drills": [url or None per bar]}`` (drills
only where a bar opens a finer view). Plain dicts rather than plotly's ``graph_objects``:
validating a figure of an hour by minute there costs far more than the page's whole budget.

Names that come from ingest (workspaces, API keys, models) reach Plotly only through
``text()``: Plotly reads a subset of HTML in legends, hover labels and ticks (``<b>``,
``<a href>``), and a name must show as the characters it is made of.
"""

import zlib
from collections.abc import Sequence

import orjson
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# One palette for every chart. A series draws its colour from its identity (see
# ``colors``), so a model or workspace keeps it from view to view and from Usage to Cost.
PALETTE = [
    "#c96442", "#3b6ea5", "#6a9f58", "#8e6bb0", "#d4a72c",
    "#4fa3a5", "#b5577b", "#e0a580", "#7a7a7a", "#2f4b7c",
]  # fmt: skip

# Usage ungrouped: the input kinds in shades of the accent, output in blue.
TOKEN_KIND_COLORS = ["#c96442", "#e0a580", "#f1d3bd", "#3b6ea5"]
# Rate-limited requests by limit type: warm alarm colours, the same on every view.
RATE_LIMIT_COLORS = ["#b42318", "#e07b39", "#7a5af8"]


_JSON_SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003C"), (">", "\\u003E"))


def script(figure: dict, element_id: str) -> SafeString:
    """``figure`` in a ``<script type="application/json">`` as the ``json_script`` filter
    makes it (data, never run: the Content-Security-Policy allows it), some thirty times
    faster for the 50 kB of a chart by the minute (orjson, and three replaces instead of
    ``str.translate``)."""
    text = orjson.dumps(figure).decode()
    for char, escaped in _JSON_SCRIPT_ESCAPES:
        text = text.replace(char, escaped)
    safe = mark_safe(text)  # noqa: S308 - JSON with <, > and & escaped, as json_script does
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, safe)


def text(name: str) -> str:
    """``name`` as Plotly shows it literally (it reads ``<b>``, ``<a href>`` and entities)."""
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def colors(identities: Sequence[int | str | None]) -> list[str]:
    """A colour per series from its identity: an id (model, workspace, API key) or a place in
    a fixed list, taken modulo the palette; any other value by a stable checksum. When two
    series in view land on one colour, the larger identity takes the next free colour, so
    the smaller keeps its colour in every view it appears in."""
    keys = [i if isinstance(i, int) else str(i) for i in identities]
    slots: dict[int, int] = {}
    taken: set[int] = set()
    for index in sorted(range(len(keys)), key=lambda i: (isinstance(keys[i], str), keys[i])):
        key = keys[index]
        slot = key % len(PALETTE) if isinstance(key, int) else zlib.crc32(key.encode())
        slot %= len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        slots[index] = slot
    return [PALETTE[slots[i]] for i in range(len(keys))]


def _layout(**extra) -> dict:
    layout = {
        "barmode": "stack",
        "margin": {"l": 70, "r": 10, "t": 10, "b": 60},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "yaxis": {"tickformat": ",d", "rangemode": "tozero"},
        # automargin: room for slanted day labels, which a fixed margin cut off.
        "xaxis": {"type": "category", "automargin": True},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    layout.update(extra)
    return layout


def _bars(name: str, x: list, y: list, color: str, hover: list[str]) -> dict:
    return {
        "type": "bar",
        "name": name,
        "x": x,
        "y": y,
        "text": hover,
        "textposition": "none",
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {"color": color},
    }


def _token_hover(label: str, c: dict) -> str:
    """One bar's hover: ``label`` is already text() for Plotly. No <b>: Plotly draws it with
    a style attribute, which the Content-Security-Policy refuses."""
    return (
        f"{label}<br>Input {c['input_tokens']:,}: uncached {c['uncached_input_tokens']:,}"
        f", cache writes {c['cache_write_tokens']:,}, cache reads {c['cache_read_tokens']:,}"
        f"<br>Output {c['output_tokens']:,}<br>Requests {c['requests']:,}"
    )


TOKEN_KINDS = [
    ("uncached_input_tokens", "Input: uncached"),
    ("cache_write_tokens", "Input: cache writes"),
    ("cache_read_tokens", "Input: cache reads"),
    ("output_tokens", "Output"),
]


def usage_tokens(x: list[str], per_period: list[dict], drills: list) -> dict:
    """Usage, ungrouped: input kinds and output stacked per period."""
    hover = [_token_hover(x[i], c) for i, c in enumerate(per_period)]
    data = [
        _bars(name, x, [c[col] for c in per_period], color, hover)
        for (col, name), color in zip(TOKEN_KINDS, TOKEN_KIND_COLORS, strict=True)
    ]
    return {"data": data, "layout": _layout(), "drills": drills}


def usage_groups(x: list[str], groups: list[dict], drills: list) -> dict:
    """Usage, grouped: one series per group, ``groups`` being ``[{"identity", "label",
    "cells": [derived counts per period]}]`` in the table's order."""
    data = []
    for group, color in zip(groups, colors([g["identity"] for g in groups]), strict=True):
        label = text(group["label"])
        cells = group["cells"]
        data.append(
            _bars(
                label,
                x,
                [c["input_tokens"] + c["output_tokens"] for c in cells],
                color,
                [_token_hover(f"{label}, {x[i]}", c) for i, c in enumerate(cells)],
            )
        )
    return {"data": data, "layout": _layout(), "drills": drills}


def rate_limited(x: list[str], series: list[dict]) -> dict:
    """Rate-limited requests per period, stacked by limit type (``[{"name", "y"}]``)."""
    data = [
        {
            "type": "bar",
            "name": s["name"],
            "x": x,
            "y": s["y"],
            "marker": {"color": color},
            "hovertemplate": "%{x}<br>" + s["name"] + ": %{y:,d}<extra></extra>",
        }
        for s, color in zip(series, RATE_LIMIT_COLORS, strict=True)
    ]
    most = max((sum(values) for values in zip(*(s["y"] for s in series), strict=True)), default=0)
    # Whole requests: small counts get a tick per request rather than 0.5 steps.
    yaxis = {"tickformat": ",d", "rangemode": "tozero", **({"dtick": 1} if most < 10 else {})}
    return {"data": data, "layout": _layout(yaxis=yaxis)}


def rate_limit_use(x: list[str], use: list[dict]) -> dict:
    """Peak input tokens per minute per model and hour, with each model's limit dashed
    (``use`` as ``usage.selectors.rate_limit_use`` returns it)."""
    models: dict = {}
    for row in use:
        m = models.setdefault(
            row["model_id"],
            {"name": text(row["model"]), "input": [None] * len(x), "limit": row["input_limit"]},
        )
        m["input"][row["period"]] = row["peak_input_tpm"]
    data = []
    for m, color in zip(models.values(), colors(list(models)), strict=True):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": m["name"] + " input/min",
                "x": x,
                "y": m["input"],
                "line": {"color": color},
                "text": [m["name"]] * len(x),
                "hovertemplate": "%{x}<br>%{text} peak input/min: %{y:,d}<extra></extra>",
            }
        )
        if m["limit"]:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": m["name"] + " input limit",
                    "x": x,
                    "y": [m["limit"]] * len(x),
                    "line": {"color": color, "dash": "dash"},
                    "text": [m["name"]] * len(x),
                    "hovertemplate": "%{text} limit: %{y:,d}<extra></extra>",
                }
            )
    return {"data": data, "layout": _layout(barmode=None)}


def cost(x: list[str], series: list[dict], drills: list | None) -> dict:
    """Cost per period stacked by group: ``series`` is ``[{"identity", "name", "y": [float],
    "exact": [str]}]``; bars are drawn from floats, hover shows the exact amounts."""
    data = []
    for s, color in zip(series, colors([s["identity"] for s in series]), strict=True):
        name = text(s["name"])
        hover = [f"{x[i]}<br>{name}: {exact}" for i, exact in enumerate(s["exact"])]
        data.append(_bars(name, x, s["y"], color, hover))
    layout = _layout(
        margin={"t": 10, "r": 10, "b": 60, "l": 60},
        yaxis={"title": {"text": "USD"}, "tickprefix": "$", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.3},
    )
    return {"data": data, "layout": layout, "drills": drills}
