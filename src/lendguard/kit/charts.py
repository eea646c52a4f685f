"""Small server-side SVG charts: no JavaScript, no CDN, crisp at any size, testable as text.

The console's Content-Security-Policy allows no inline styles, so every colour is an attribute
and every other look comes from classes in console.css."""

from __future__ import annotations

from html import escape

ACTION_COLOURS = {
    "allow": "#9bb7a0",
    "remind": "#f2c14e",
    "dissuade": "#f08a4b",
    "intercept": "#d1495b",
    "block": "#6b2737",
}


def axis_ticks(top: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 that reach ``top``, at a round step (1, 2, 5 times a power of
    ten), at most ``most`` of them: 0 → [0]; 3 → [0, 1, 2, 3]; 7 → [0, 2, 4, 6, 8]. Counts of
    decisions are whole: an axis never reads 0.5, nor 1/0/0 on an empty database."""
    if top <= 0:
        return [0]
    step = 1
    while True:
        for factor in (1, 2, 5):
            size = step * factor
            if -(-top // size) + 1 <= most:
                return [size * i for i in range(-(-top // size) + 1)]
        step *= 10


def stacked_bars(
    days: list[str],
    series: dict[str, list[int]],
    width: int = 720,
    height: int = 220,
    legend: dict[str, str] | None = None,
    label: str = "decisions per day",
    empty: str = "no data",
) -> str:
    """Decisions per day, one stacked bar per day (a ``<g class="bar" data-day=…>`` for each
    day with decisions), one colour per action, with a legend in the page's language."""
    legend = legend or {a: a for a in series}
    totals = [sum(series[a][i] for a in series) for i in range(len(days))]
    ticks = axis_ticks(max(totals, default=0))
    top = ticks[-1] or 1
    pad_l, pad_b, pad_t = 48, 28, 24
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} '
        f'{height}" width="100%" preserveAspectRatio="xMidYMid meet">'
    ]
    for tick in ticks:
        y = pad_t + plot_h * (1 - tick / top)
        parts.append(
            f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{tick:,}</text>"
        )
    if not any(totals):
        parts.append(
            f'<text x="{pad_l + plot_w / 2:.1f}" y="{pad_t + plot_h / 2:.1f}" '
            f'text-anchor="middle" class="empty">{escape(empty)}</text></svg>'
        )
        return "".join(parts)
    slot = plot_w / len(days)
    bar_w = min(48.0, max(2.0, slot * 0.7))
    for i, day in enumerate(days):
        x = pad_l + i * slot + (slot - bar_w) / 2
        y = pad_t + plot_h
        if totals[i]:
            parts.append(f'<g class="bar" data-day="{escape(day)}" data-total="{totals[i]}">')
            for action, values in series.items():
                value = values[i]
                if not value:
                    continue
                h = plot_h * value / top
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{ACTION_COLOURS.get(action, "#888")}" data-action="{escape(action)}" '
                    f'data-count="{value}"><title>{escape(day)} '
                    f"{escape(legend.get(action, action))}: {value:,}</title></rect>"
                )
            parts.append("</g>")
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'class="tick">{escape(day[5:])}</text>'
            )
    x = pad_l
    for action in series:
        parts.append(
            f'<rect x="{x}" y="4" width="10" height="10" '
            f'fill="{ACTION_COLOURS.get(action, "#888")}"/>'
            f'<text x="{x + 14}" y="13" class="tick legend">{escape(legend.get(action, action))}'
            "</text>"
        )
        x += 90
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, most: int = 30) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def horizontal_bars(
    items: list[tuple[str, int]],
    width: int = 1000,
    row: int = 24,
    label: str = "top reasons",
    colour: str = "#d1495b",
) -> str:
    """Labelled horizontal bars (top reasons by default); a long label is shortened on the bar
    and given whole in its tooltip."""
    if not items:
        return '<svg class="chart" role="img" aria-label="no data" width="0" height="0"></svg>'
    top = max(v for _, v in items) or 1
    label_w = 380
    height = row * len(items) + 4
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} '
        f'{height}" width="100%">'
    ]
    for i, (name, value) in enumerate(items):
        y = i * row + 2
        w = (width - label_w - 50) * value / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="tick">'
            f"<title>{escape(name)}</title>{escape(_short(name))}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" class="tick">{value:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
