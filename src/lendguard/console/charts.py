"""Small server-side SVG charts: no JavaScript, no CDN, crisp at any size, testable as text."""

from __future__ import annotations

from html import escape

ACTION_COLOURS = {
    "allow": "#9bb7a0",
    "remind": "#f2c14e",
    "dissuade": "#f08a4b",
    "intercept": "#d1495b",
    "block": "#6b2737",
}


def stacked_bars(
    days: list[str], series: dict[str, list[int]], width: int = 720, height: int = 220
) -> str:
    """Decisions per day, one stacked bar per day, one colour per action, with a legend."""
    if not days:
        return '<svg class="chart" role="img" aria-label="no data" width="0" height="0"></svg>'
    totals = [sum(series[a][i] for a in series) for i in range(len(days))]
    top = max(totals) or 1
    pad_l, pad_b, pad_t = 40, 28, 24
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    slot = plot_w / len(days)
    bar_w = min(48.0, max(2.0, slot * 0.7))
    parts = [
        f'<svg class="chart" role="img" aria-label="decisions per day" viewBox="0 0 {width} '
        f'{height}" width="100%" preserveAspectRatio="xMidYMid meet">'
    ]
    for frac in (0.0, 0.5, 1.0):
        y = pad_t + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{int(top * frac)}</text>"
        )
    for i, day in enumerate(days):
        x = pad_l + i * slot + (slot - bar_w) / 2
        y = pad_t + plot_h
        for action, values in series.items():
            value = values[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{ACTION_COLOURS.get(action, "#888")}"><title>{escape(day)} '
                f"{escape(action)}: {value}</title></rect>"
            )
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
            f'<text x="{x + 14}" y="13" class="tick">{escape(action)}</text>'
        )
        x += 90
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(
    items: list[tuple[str, int]],
    width: int = 1000,
    row: int = 24,
    label: str = "top reasons",
    colour: str = "#d1495b",
) -> str:
    """Labelled horizontal bars (top reasons by default)."""
    if not items:
        return '<svg class="chart" role="img" aria-label="no data" width="0" height="0"></svg>'
    top = max(v for _, v in items) or 1
    label_w = 340
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
            f"{escape(name)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" class="tick">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
