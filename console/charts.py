"""Every chart's Plotly figure, built here as plain dicts that static/console/charts.js draws.

A figure is ``{"data": [traces], "layout": {...}, "drills": [url or None per bar]}`` (drills
only where a bar opens a finer view). Plain dicts rather than plotly's ``graph_objects``:
validating a figure of an hour by minute there costs far more than the page's whole budget.

Names that come from ingest (workspaces, API keys, models) reach Plotly only through
``text()``: Plotly reads a subset of HTML in legends, hover labels and ticks (``<b>``,
``<a href>``), and a name must show as the characters it is made of.
"""

import datetime as dt
import zlib
from collections.abc import Sequence

import orjson
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# Two palettes that never meet, so a chart by model never reads as a chart of token types.
# Groups (models, workspaces, keys, people): distinct hues; a series draws its colour from
# its identity (see ``colors``), so it keeps it from view to view and from Usage to Cost.
PALETTE = [
    "#c96442", "#6a9f58", "#8e6bb0", "#d4a72c", "#b5577b",
    "#4fa3a5", "#7a7a7a", "#a0522d", "#5b8c2a", "#c2185b",
]  # fmt: skip

# Token types: input kinds in three shades of one blue (darkest: uncached), output in teal.
TOKEN_KIND_COLORS = ["#1f4e8c", "#4f86c6", "#a9c6ea", "#17877b"]
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
    people = [i for i, identity in enumerate(identities) if identity is not EVERYONE_ELSE]
    for index in sorted(people, key=lambda i: (isinstance(keys[i], str), keys[i])):
        key = keys[index]
        slot = key % len(PALETTE) if isinstance(key, int) else zlib.crc32(key.encode())
        slot %= len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        slots[index] = slot
    return [PALETTE[slots[i]] if i in slots else REST_COLOR for i in range(len(keys))]


def axis_labels(periods) -> list[str]:
    """What the x axis names each period: a day as a console names it ("Nov 1", never
    "2026-11-01" slanted under the bar), an hour or a minute by its own label ("01:00 EDT",
    "13:05")."""
    return [
        f"{p.local_start:%b} {p.local_start.day}" if p.duration >= DAY_LENGTH else p.label
        for p in periods
    ]


DAY_LENGTH = dt.timedelta(hours=23)  # a local day, also the short one of a DST change


def _layout(**extra) -> dict:
    layout = {
        "barmode": "stack",
        "margin": {"l": 56, "r": 10, "t": 10, "b": 36},
        # Above the plot, where it can never cover a bar or an axis label (at 390 px the
        # legend below the axis sat on the tick labels).
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        # One box per period, naming it and each part of its bar with its share.
        "hovermode": "x unified",
        # Plotly's own short form: 30M, 1.2B, 450k.
        "yaxis": {"rangemode": "tozero", "exponentformat": "B", "automargin": True},
        # Labels level and thinned to what fits (a day by minute has 60 bars).
        "xaxis": {"type": "category", "automargin": True, "tickangle": 0, "nticks": 12},
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


def _share(part: int | float, whole: int | float) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def _parts_hover(name: str, values: list, totals: list, fmt=None) -> list[str]:
    """A bar part's line in its period's hover box: its name, value and share of the bar
    (``name`` is already text() for Plotly; no <b>, which Plotly draws with a style
    attribute that the Content-Security-Policy refuses)."""
    fmt = fmt or (lambda v: f"{v:,}")
    return [f"{name}: {fmt(v)}{_share(v, t)}" for v, t in zip(values, totals, strict=True)]


TOKEN_KINDS = [
    ("uncached_input_tokens", "Input: uncached"),
    ("cache_write_tokens", "Input: cache writes"),
    ("cache_read_tokens", "Input: cache reads"),
    ("output_tokens", "Output"),
]


def usage_tokens(x: list[str], per_period: list[dict], drills: list) -> dict:
    """Usage, ungrouped: input kinds and output stacked per period."""
    totals = [c["input_tokens"] + c["output_tokens"] for c in per_period]
    data = []
    for (col, name), color in zip(TOKEN_KINDS, TOKEN_KIND_COLORS, strict=True):
        values = [c[col] for c in per_period]
        hover = _parts_hover(name, values, totals)
        if col == "output_tokens":  # the last line of the box also says how many requests
            hover = [
                f"{h} · {c['requests']:,} requests"
                if c.get("requests_known", True)
                else f"{h} · request count not known for imported usage"
                for h, c in zip(hover, per_period, strict=True)
            ]
        data.append(_bars(name, x, values, color, hover))
    return {"data": data, "layout": _layout(), "drills": drills}


# Grouped by user, a chart draws the people with the most (tokens, or cost) one each and
# everyone else as one group: a thousand people would be a thousand bars in each period.
# That group's identity is EVERYONE_ELSE: a neutral colour outside the palette, so it never
# reads as a person and leaves the palette's ten colours to the ten people.
TOP_PEOPLE = 10
EVERYONE_ELSE = object()
REST_COLOR = "#a8a29e"


def everyone_else(count: int) -> str:
    """The chart group of the people not drawn one each."""
    return f"Everyone else ({count:,} {'person' if count == 1 else 'people'})"


def usage_groups(x: list[str], groups: list[dict], drills: list) -> dict:
    """Usage, grouped: one series per group, ``groups`` being ``[{"identity", "label",
    "cells": [derived counts per period]}]`` in the table's order."""
    tokens = [[c["input_tokens"] + c["output_tokens"] for c in g["cells"]] for g in groups]
    totals = [sum(column) for column in zip(*tokens, strict=True)] if groups else []
    data = []
    for group, values, color in zip(
        groups, tokens, colors([g["identity"] for g in groups]), strict=True
    ):
        label = text(group["label"])
        data.append(_bars(label, x, values, color, _parts_hover(label, values, totals)))
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
            "hovertemplate": s["name"] + ": %{y:,d}<extra></extra>",
        }
        for s, color in zip(series, RATE_LIMIT_COLORS, strict=True)
    ]
    most = max((sum(values) for values in zip(*(s["y"] for s in series), strict=True)), default=0)
    # Whole requests: small counts get a tick per request rather than 0.5 steps.
    yaxis = {"rangemode": "tozero", "exponentformat": "B", **({"dtick": 1} if most < 10 else {})}
    return {"data": data, "layout": _layout(yaxis=yaxis)}


_LIMITS = [
    ("peak_input_tpm", "input_limit", "input tokens/min"),
    ("peak_output_tpm", "output_limit", "output tokens/min"),
    ("peak_rpm", "requests_limit", "requests/min"),
]


def rate_limit_use(x: list[str], use: list[dict]) -> dict:
    """Each model's use of its rate limits per hour, as a share: the highest of its peak
    input, output and requests per minute against the limit of each (a 4M-token limit no
    longer flattens a 40k peak to nothing), with the 100% line. Models without any limit
    set have nothing to be a share of and are left to the table. ``use`` as
    ``usage.selectors.rate_limit_use`` returns it."""
    models: dict = {}
    for row in use:
        shares = [
            (row[peak] / row[limit], f"{row[peak]:,} {unit} of {row[limit]:,}")
            for peak, limit, unit in _LIMITS
            if row[limit]
        ]
        if not shares:
            continue
        m = models.setdefault(
            row["model_id"],
            {"name": text(row["model"]), "y": [None] * len(x), "text": [""] * len(x)},
        )
        share, detail = max(shares)
        m["y"][row["period"]] = share
        m["text"][row["period"]] = f"{m['name']}: {share:.0%} ({detail})"
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": m["name"],
            "x": x,
            "y": m["y"],
            "line": {"color": color},
            "text": m["text"],
            "hovertemplate": "%{text}<extra></extra>",
        }
        for m, color in zip(models.values(), colors(list(models)), strict=True)
    ]
    layout = _layout(
        barmode=None,
        yaxis={"rangemode": "tozero", "tickformat": ".0%", "automargin": True},
        shapes=[
            {
                "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": 1, "y1": 1,
                "line": {"dash": "dash", "width": 1, "color": RATE_LIMIT_COLORS[0]},
            }
        ],
    )  # fmt: skip
    return {"data": data, "layout": layout}


def cost(x: list[str], series: list[dict], drills: list | None) -> dict:
    """Cost per period stacked by group: ``series`` is ``[{"identity", "name", "y": [float],
    "exact": [str]}]``; bars are drawn from floats, hover shows the exact amounts."""
    totals = [sum(column) for column in zip(*(s["y"] for s in series), strict=True)]
    data = []
    for s, color in zip(series, colors([s["identity"] for s in series]), strict=True):
        name = text(s["name"])
        hover = [
            f"{name}: {exact}{_share(y, total)}"
            for y, exact, total in zip(s["y"], s["exact"], totals, strict=True)
        ]
        data.append(_bars(name, x, s["y"], color, hover))
    layout = _layout(
        yaxis={"tickprefix": "$", "rangemode": "tozero", "exponentformat": "B", "automargin": True}
    )
    return {"data": data, "layout": layout, "drills": drills}


def still_to_come(figure: dict, future: list[bool]) -> dict:
    """The figure with the periods not yet begun drawn as such: no bar (not a zero bar), no
    drill, and a shaded band labelled "Still to come" over them (periods run in order)."""
    if not any(future):
        return figure
    first = future.index(True)
    for trace in figure["data"]:
        trace["y"] = [None if future[i] else y for i, y in enumerate(trace["y"])]
    if figure.get("drills"):
        figure["drills"] = [None if future[i] else d for i, d in enumerate(figure["drills"])]
    x0, x1 = first - 0.5, len(future) - 0.5  # category positions: bar i is centred on i
    layout = figure["layout"]
    layout["shapes"] = [
        {
            "type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1, "y0": 0, "y1": 1,
            "fillcolor": "rgba(128, 128, 128, 0.12)", "line": {"width": 0}, "layer": "below",
        }
    ]  # fmt: skip
    layout["annotations"] = [
        {
            "xref": "x", "yref": "paper", "x": (x0 + x1) / 2, "y": 1, "yanchor": "top",
            "text": "Still to come", "showarrow": False,
        }
    ]  # fmt: skip
    return figure
