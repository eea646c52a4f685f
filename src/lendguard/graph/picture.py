"""A customer's neighbourhood in the link graph as a picture: server-drawn SVG, no script.

Customers are circles (the customer asked about ringed in ink and drawn larger; confirmed fraud
red, suspected mules purple, members of a flagged ring orange, everyone else grey), shared
entities are small squares coloured by what they are (device, phone, card, address, IP, payee,
contact-list number), and each customer–entity link is a line as thick as the link is strong
(IP links dashed and faint: they never join groups). The layout is Fruchterman–Reingold from
igraph, started from positions drawn from ``seed``, so one input always gives the same bytes.

The console's Content-Security-Policy allows no inline styles, so every colour is an attribute.
Entity values never appear in full: a type and the first six characters (of the keyed hash, for
phones, cards and addresses) are enough to tell entities apart on one picture.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Sequence
from html import escape

import igraph as ig

from lendguard.graph.index import LINK_WEIGHT, STRONG
from lendguard.graph.rings import IGRAPH_RNG_LOCK

FOCUS_STROKE = "#14213d"
CUSTOMER_COLOURS = {
    "fraud": "#d1495b",
    "mule": "#7b3fa0",
    "ring": "#f08a4b",
    "other": "#9aa3ad",
}
CUSTOMER_LEGEND = {
    "fraud": "confirmed fraud",
    "mule": "suspected mule",
    "ring": "ring member",
    "other": "customer",
}
ENTITY_COLOURS = {
    "device": "#2f5d8a",
    "phone": "#2a9d8f",
    "card": "#c99a06",
    "address": "#8d6e63",
    "voice": "#b5517a",
    "ip": "#94a3b8",
    "payee": "#6a994e",
    "contact": "#48a9c5",
}
_PREFIXES = ("ph:", "d:", "k:", "a:", "v:", "i:", "p:")
_HASH_PREFIX = "h1:"
_LEGEND_H = 44
_MARGIN = 36
_RNG_LOCK = IGRAPH_RNG_LOCK  # shared with rings.detect
# Labels stay readable over lines: a white outline painted under the glyphs.
_HALO = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'


def entity_value(key: str) -> str:
    """The value part of an entity key, without the type prefix and the pseudonym marker."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    if key.startswith(_HASH_PREFIX):
        key = key[len(_HASH_PREFIX) :]
    return key


def mask_entity(key: str, link_type: str) -> str:
    """``device 3f9a1c…``: enough to tell entities apart, never a whole identifier or hash."""
    value = entity_value(key)
    short = value[:6] + ("…" if len(value) > 6 else "")
    return f"{link_type} {short}"


def short_customer(customer: str, keep: int = 14) -> str:
    return customer if len(customer) <= keep else customer[: keep - 1] + "…"


def _category(
    customer: str, ring_members: Collection[str], labelled: Collection[str], mules: Collection[str]
) -> str:
    if customer in labelled:
        return "fraud"
    if customer in mules:
        return "mule"
    if customer in ring_members:
        return "ring"
    return "other"


def _layout(
    count: int, pairs: list[tuple[int, int]], weights: list[float], seed: int
) -> list[tuple[float, float]]:
    if count == 1:
        return [(0.0, 0.0)]
    rng = random.Random(seed)
    start = [[rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)] for _ in range(count)]
    graph = ig.Graph(n=count, edges=pairs)
    # igraph's FR jitters vertices with its random number generator on every step, so a fixed
    # start is not enough: the generator is one seeded for this drawing, then the default again
    # (igraph's default is the ``random`` module, which rings.detect seeds for itself).
    with _RNG_LOCK:
        ig.set_random_number_generator(rng)
        try:
            layout = graph.layout_fruchterman_reingold(
                weights=weights or None, seed=start, niter=500, grid=False
            )
        finally:
            ig.set_random_number_generator(random)
    return [(float(x), float(y)) for x, y in layout.coords]


def neighbourhood_svg(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str, str, float]],
    focus: str,
    ring_members: Collection[str] = frozenset(),
    labelled: Collection[str] = frozenset(),
    mules: Collection[str] = frozenset(),
    width: int = 720,
    height: int = 520,
    seed: int = 1,
) -> str:
    """The SVG markup of a neighbourhood from :meth:`LinkIndex.neighbourhood`.

    ``nodes`` mixes customers and entity keys (an entity is whatever an edge points at);
    ``edges`` are (customer, entity key, link type, last seen).
    """
    entity_keys = {e[1] for e in edges}
    order = list(dict.fromkeys(nodes))
    for customer, key, _, _ in edges:  # an edge never points outside the picture
        for node in (customer, key):
            if node not in order:
                order.append(node)
    if focus not in order:
        order.insert(0, focus)
    position = {node: i for i, node in enumerate(order)}
    entity_type: dict[str, str] = {}
    for _, key, link_type, _ in edges:
        known = entity_type.get(key)
        if known is None or (known not in STRONG and link_type in STRONG):
            entity_type[key] = link_type
    linked = Counter(key for _, key, _, _ in edges)
    pairs = [(position[c], position[k]) for c, k, _, _ in edges]
    weights = [LINK_WEIGHT.get(t, 0.3) for _, _, t, _ in edges]
    coords = _layout(len(order), pairs, weights, seed)

    xs = [x for x, _ in coords]
    ys = [y for _, y in coords]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    box_w = width - 2 * _MARGIN
    box_h = height - 2 * _MARGIN - _LEGEND_H

    def place(i: int) -> tuple[float, float]:
        x, y = coords[i]
        if len(order) == 1:
            return width / 2, _LEGEND_H + _MARGIN + box_h / 2
        return (
            _MARGIN + (x - min(xs)) / span_x * box_w,
            _LEGEND_H + _MARGIN + (y - min(ys)) / span_y * box_h,
        )

    placed = [place(i) for i in range(len(order))]
    customers = [n for n in order if n not in entity_keys]
    label = f"link graph around {focus}: {len(customers)} customers, {len(entity_keys)} entities"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" font-family="system-ui, sans-serif">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    parts.extend(_legend(sorted(set(entity_type.values()), key=_type_rank)))

    parts.append('<g class="links">')
    for customer, key, link_type, _ in edges:
        x1, y1 = placed[position[customer]]
        x2, y2 = placed[position[key]]
        stroke = max(0.8, 3.0 * LINK_WEIGHT.get(link_type, 0.3))
        extra = (
            ' stroke-dasharray="4 3" stroke-opacity="0.45"'
            if link_type == "ip"
            else ' stroke-opacity="0.75"'
        )
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{ENTITY_COLOURS.get(link_type, "#94a3b8")}" stroke-width="{stroke:.1f}"'
            f"{extra}><title>{escape(short_customer(customer, 40))} — "
            f"{escape(mask_entity(key, link_type))}</title></line>"
        )
    parts.append("</g>")

    parts.append('<g class="entities">')
    for key in order:
        if key not in entity_keys:
            continue
        x, y = placed[position[key]]
        link_type = entity_type[key]
        text = mask_entity(key, link_type)
        parts.append(
            f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" '
            f'fill="{ENTITY_COLOURS.get(link_type, "#94a3b8")}" stroke="#ffffff" '
            f'stroke-width="1"><title>{escape(text)} · {linked[key]} linked here</title></rect>'
            f'<text x="{x + 8:.1f}" y="{y + 12:.1f}" font-size="9" fill="#6b7280"{_HALO}>'
            f"{escape(text)}</text>"
        )
    parts.append("</g>")

    parts.append('<g class="customers">')
    for customer in customers:
        x, y = placed[position[customer]]
        category = _category(customer, ring_members, labelled, mules)
        is_focus = customer == focus
        radius = 11 if is_focus else 8
        ring = (
            f' stroke="{FOCUS_STROKE}" stroke-width="3"'
            if is_focus
            else ' stroke="#ffffff" stroke-width="1.5"'
        )
        notes = [CUSTOMER_LEGEND[category]] + (["this customer"] if is_focus else [])
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" '
            f'fill="{CUSTOMER_COLOURS[category]}"{ring}>'
            f"<title>{escape(customer)} ({escape(', '.join(notes))})</title></circle>"
            f'<text x="{x:.1f}" y="{y - radius - 4:.1f}" text-anchor="middle" font-size="11" '
            f'font-weight="{"700" if is_focus else "400"}" fill="#1f2430"{_HALO}>'
            f"{escape(short_customer(customer))}</text>"
        )
    parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _type_rank(link_type: str) -> int:
    order = list(ENTITY_COLOURS)
    return order.index(link_type) if link_type in order else len(order)


def _legend(entity_types: list[str]) -> list[str]:
    """Two legend rows: customer colours (small circles, outside the customers group), then
    the entity types drawn on this picture."""
    out = ['<g class="legend" font-size="11" fill="#1f2430">']
    x = 12
    for category, colour in CUSTOMER_COLOURS.items():
        out.append(
            f'<rect x="{x}" y="8" width="10" height="10" rx="5" fill="{colour}"/>'
            f'<text x="{x + 14}" y="17">{escape(CUSTOMER_LEGEND[category])}</text>'
        )
        x += 130
    out.append(
        f'<rect x="{x}" y="8" width="10" height="10" rx="5" fill="#ffffff" '
        f'stroke="{FOCUS_STROKE}" stroke-width="2.5"/>'
        f'<text x="{x + 14}" y="17">this customer</text>'
    )
    x = 12
    for link_type in entity_types:
        dashed = ' stroke-dasharray="4 3"' if link_type == "ip" else ""
        colour = ENTITY_COLOURS.get(link_type, "#94a3b8")
        out.append(
            f'<line x1="{x}" y1="31" x2="{x + 14}" y2="31" stroke="{colour}" '
            f'stroke-width="{max(0.8, 3.0 * LINK_WEIGHT.get(link_type, 0.3)):.1f}"{dashed}/>'
            f'<rect x="{x + 16}" y="26" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 30}" y="35">{escape(link_type)}</text>'
        )
        x += 95
    out.append("</g>")
    return out
