"""Entity-link graph at scale: igraph components vs networkx on one synthetic link list.

    .venv/bin/python bench/graph_scale.py [--customers 1000000] [--links 5000000] [--seed 7]
        [--repeat 3] [--nx-repeat 1] [--skip-networkx] [--no-leiden] [--out FILE]

What it does:

1. generates (seeded, NumPy, not timed against the goal) ``--links`` distinct customer–entity
   links for ``--customers`` customers over five kinds of entity that a lending platform links
   on: devices, phones, bank cards, IP addresses and payees (see ``KINDS``). Per kind, a share
   of the links goes to hubs (carrier-NAT IPs, billers and e-wallet top-up payees, device farms),
   with Zipf degrees (largest ``hub_max_share`` × customers, smallest ``HUB_MIN``); planted rings
   of 5–50 customers share 1–3 devices and 1–2 phones; everything else goes to small entities
   used by 1–3 customers (a few by 4–10). Every customer has at least one device. Devices, phones
   and cards are spread evenly over customers; IPs and payees follow a lognormal activity weight
   (heavy users). Duplicate (customer, entity) pairs are dropped and topped up with private
   entities, ids are shuffled, and the link order is shuffled;
2. in a subprocess, times ``lendguard.graph.rings.components_from_links`` (igraph bipartite
   graph built in C from the arrays, connected components): the first run and the best of
   ``--repeat``; then one run split into graph build and partition;
3. in another subprocess, on the same links: ``nx.Graph().add_edges_from`` of
   ``(customer, n_customers + entity)`` tuples (the ``tolist`` conversion counted), then
   ``list(nx.connected_components(G))``; the partition of customers must be the same as
   igraph's (same component count, identical multiset of component sizes counted in customers:
   asserted);
4. in a third subprocess (unless ``--no-leiden``), igraph ``community_leiden`` (modularity, two
   iterations) on the whole bipartite graph, the graph build timed apart;
5. records each subprocess' peak RSS (``VmHWM`` of ``/proc/self/status``) and its RSS after
   loading the links and importing the library (the baseline), so the delta is what the
   measurement itself took. ``ru_maxrss`` is recorded too but is not the peak here: on Linux a
   process started by fork + exec inherits its parent's high-water mark in it.

Prints a table and the JSON and writes the JSON to ``bench/results/graph_scale.json``. The goal
(issue #9): 1,000,000 customers and 5,000,000 links built and partitioned in at most 60 s (first
run). Exit status 1 when the goal is missed or the partitions differ.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rich.console import Console
from rich.table import Table

from lendguard.simulate.benchmark import machine_info

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "graph_scale.json"
DEFAULT_CUSTOMERS = 1_000_000
DEFAULT_LINKS = 5_000_000
DEFAULT_SEED = 7
GOAL_S = 60.0
HUB_MIN = 20
RING_SIZES = (5, 50)
CUSTOMERS_PER_RING = 500
WORKER_TIMEOUT_S = 1_800


@dataclass(frozen=True)
class EntityKind:
    name: str
    link_share: float  # share of all links
    small_degrees: tuple[float, float, float]  # P(1), P(2), P(3); the rest over 4..10 ∝ 1/d²
    hub_share: float  # share of this kind's links that go to hubs
    hub_max_share: float  # the largest hub's customers, as a share of all customers
    by_activity: bool  # customers drawn by activity weight (else spread evenly)


KINDS = (
    # own phone or a family tablet; hubs: emulator farms, a promoter's sign-up tablets
    EntityKind("device", 0.22, (0.80, 0.14, 0.04), 0.01, 0.0005, False),
    # own SIM; hubs: a call centre's number typed in as one's own
    EntityKind("phone", 0.16, (0.90, 0.08, 0.015), 0.005, 0.0003, False),
    # own card, a spouse's; hubs: an agent's card loans are paid out to
    EntityKind("card", 0.16, (0.88, 0.09, 0.02), 0.005, 0.0001, False),
    # home broadband, households, small offices; hubs: carrier NAT, campus and café Wi-Fi
    EntityKind("ip", 0.26, (0.55, 0.25, 0.10), 0.10, 0.02, True),
    # family, landlords; hubs: utility billers, e-wallet top-up accounts
    EntityKind("payee", 0.20, (0.50, 0.25, 0.12), 0.30, 0.05, True),
)


# =============================================================================================
# The link list
# =============================================================================================


def _small_degrees(rng: np.random.Generator, kind: EntityKind, budget: int) -> np.ndarray:
    """Degrees of small entities summing to exactly ``budget``."""
    tail = np.arange(4, 11)
    tail_w = 1.0 / tail**2
    p_tail = 1.0 - sum(kind.small_degrees)
    values = np.concatenate([[1, 2, 3], tail])
    probs = np.concatenate([kind.small_degrees, p_tail * tail_w / tail_w.sum()])
    mean = float((values * probs).sum())
    parts: list[np.ndarray] = []
    total = 0
    while total < budget:
        draw = rng.choice(values, size=int((budget - total) / mean * 1.05) + 16, p=probs)
        parts.append(draw)
        total += int(draw.sum())
    degrees = np.concatenate(parts)
    cut = int(np.searchsorted(np.cumsum(degrees), budget))
    degrees = degrees[: cut + 1].copy()
    degrees[-1] -= int(degrees.sum()) - budget
    return degrees[degrees > 0]


def _hub_degrees(budget: int, largest: int) -> np.ndarray:
    """Zipf degrees (largest / rank, at least ``HUB_MIN``) summing to exactly ``budget``."""
    if budget < HUB_MIN:
        return np.zeros(0, dtype=np.int64)
    largest = max(HUB_MIN, largest)
    rank = np.arange(1, budget // HUB_MIN + 2)
    degrees = np.maximum(HUB_MIN, largest // rank)
    cut = int(np.searchsorted(np.cumsum(degrees), budget))
    degrees = degrees[: cut + 1].copy()
    degrees[-1] -= int(degrees.sum()) - budget
    return degrees[degrees > 0]


def _spread(rng: np.random.Generator, n_customers: int, size: int) -> np.ndarray:
    """``size`` customers, each customer once per round (shuffled permutations, concatenated)."""
    rounds = -(-size // n_customers)
    return np.concatenate([rng.permutation(n_customers) for _ in range(rounds)])[:size]


def make_links(n_customers: int, n_links: int, seed: int) -> dict[str, Any]:
    """The synthetic link list: ``customers``, ``entities`` (int64 arrays), counts and stats."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_customers)
    activity /= activity.sum()
    budgets = [int(k.link_share * n_links) for k in KINDS]
    budgets[-1] += n_links - sum(budgets)

    # Planted rings: disjoint groups of customers sharing 1-3 devices and 1-2 phones.
    n_rings = max(1, n_customers // CUSTOMERS_PER_RING)
    lo, hi = RING_SIZES
    sizes = lo + np.floor((hi - lo + 1) * rng.random(n_rings) ** 2).astype(np.int64)
    members = rng.choice(n_customers, size=int(sizes.sum()), replace=False)
    ring_of = np.repeat(np.arange(n_rings), sizes)
    ring_links: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"device": [], "phone": []}
    next_local = {"device": 0, "phone": 0}
    start = 0
    for size in sizes.tolist():
        people = members[start : start + size]
        start += size
        for name, shared in (("device", rng.integers(1, 4)), ("phone", rng.integers(1, 3))):
            for j in range(int(shared)):
                # the first device reaches everyone; other shared ones most of the ring
                who = people if (name == "device" and j == 0) else people[rng.random(size) < 0.8]
                local = next_local[name]
                next_local[name] += 1
                ring_links[name].append((who, np.full(len(who), local, dtype=np.int64)))

    cust_parts: list[np.ndarray] = []
    ent_parts: list[np.ndarray] = []
    kind_stats: dict[str, Any] = {}
    offset = 0
    for kind, budget in zip(KINDS, budgets, strict=True):
        hubs = _hub_degrees(int(kind.hub_share * budget), int(kind.hub_max_share * n_customers))
        ring_pairs = ring_links.get(kind.name, [])
        ring_c = np.concatenate([c for c, _ in ring_pairs]) if ring_pairs else np.zeros(0, int)
        ring_e = np.concatenate([e for _, e in ring_pairs]) if ring_pairs else np.zeros(0, int)
        n_ring_entities = next_local.get(kind.name, 0)
        small = _small_degrees(rng, kind, budget - int(hubs.sum()) - len(ring_c))
        n_hubs = len(hubs)
        # entity ids within the kind: hubs, ring entities, small entities
        hub_e = np.repeat(np.arange(n_hubs), hubs)
        small_e = np.repeat(np.arange(len(small)), small) + n_hubs + n_ring_entities
        hub_c = rng.integers(0, n_customers, len(hub_e))
        if kind.by_activity:
            small_c = rng.choice(n_customers, size=len(small_e), p=activity)
        else:
            small_c = _spread(rng, n_customers, len(small_e))
        n_entities = n_hubs + n_ring_entities + len(small)
        cust_parts += [hub_c, ring_c, small_c]
        ent_parts += [hub_e + offset, ring_e + n_hubs + offset, small_e + offset]
        degrees = np.concatenate([hubs, np.bincount(ring_e, minlength=n_ring_entities), small])
        kind_stats[kind.name] = {
            "entities": n_entities,
            "links": budget,
            "hubs": n_hubs,
            "largest_hub": int(hubs.max()) if n_hubs else 0,
            "links_to_hubs": int(hubs.sum()),
            "ring_entities": n_ring_entities,
            "share_entities_degree_1": round(float((degrees == 1).mean()), 4),
            "share_entities_degree_1_to_3": round(float((degrees <= 3).mean()), 4),
        }
        offset += n_entities

    customers = np.concatenate(cust_parts).astype(np.int64)
    entities = np.concatenate(ent_parts).astype(np.int64)
    # drop duplicate (customer, entity) pairs, top up with private entities (one customer each)
    keys = np.unique(customers * offset + entities)
    duplicates = n_links - len(keys)
    customers, entities = keys // offset, keys % offset
    if duplicates:
        customers = np.concatenate([customers, rng.integers(0, n_customers, duplicates)])
        entities = np.concatenate([entities, offset + np.arange(duplicates)])
        offset += duplicates
    n_entities = offset
    relabel = rng.permutation(n_entities)
    order = rng.permutation(n_links)
    customers, entities = customers[order], relabel[entities[order]]
    per_customer = np.bincount(customers, minlength=n_customers)
    return {
        "customers": customers,
        "entities": entities,
        "ring_members": members,
        "ring_of": ring_of,
        "n_customers": n_customers,
        "n_entities": n_entities,
        "stats": {
            "customers": n_customers,
            "links": n_links,
            "entities": n_entities,
            "kinds": kind_stats,
            "duplicate_pairs_replaced": duplicates,
            "links_per_customer": {
                "mean": round(float(per_customer.mean()), 2),
                "min": int(per_customer.min()),
                "p99": int(np.percentile(per_customer, 99)),
                "max": int(per_customer.max()),
            },
            "rings": {
                "count": n_rings,
                "customers": len(members),
                "size_min": int(sizes.min()),
                "size_max": int(sizes.max()),
            },
        },
    }


# =============================================================================================
# Memory and the measurement subprocesses
# =============================================================================================


def memory() -> dict[str, float]:
    """RSS now and its high-water mark in this process (MiB), plus ``ru_maxrss``."""
    out: dict[str, float] = {
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    }
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key = "rss_mib" if line.startswith("VmRSS") else "peak_rss_mib"
                out[key] = round(int(line.split()[1]) / 1024, 1)
    except OSError:  # pragma: no cover - not Linux
        out["peak_rss_mib"] = out["ru_maxrss_mib"]
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _load(data: Path) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    meta = json.loads((data / "meta.json").read_text())
    return np.load(data / "customers.npy"), np.load(data / "entities.npy"), meta


def _sizes_igraph(labels: np.ndarray) -> np.ndarray:
    return np.sort(np.bincount(labels)[np.unique(labels)])


def _worker_igraph(data: Path, repeat: int) -> dict[str, Any]:
    import igraph as ig

    from lendguard.graph.rings import components_from_links

    customers, entities, meta = _load(data)
    n_c, n_e = meta["n_customers"], meta["n_entities"]
    gc.collect()
    baseline = memory()
    load_start = _load_average()
    runs, cpus = [], []
    for _ in range(repeat):
        labels = None
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        labels, n_components = components_from_links(customers, entities, n_c, n_e)
        runs.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    assert labels is not None
    after_runs = memory()
    np.save(data / "igraph_labels.npy", labels)
    del labels
    gc.collect()
    # one more run, split: arrays to igraph graph, then components and labels
    started = time.perf_counter()
    edges = np.empty((len(customers), 2), dtype=np.int64)
    edges[:, 0] = customers
    edges[:, 1] = entities + n_c
    graph = ig.Graph(n=n_c + n_e, edges=edges)
    built = time.perf_counter()
    membership = np.asarray(graph.connected_components().membership, dtype=np.int64)
    n_split = len(np.unique(membership[:n_c]))
    done = time.perf_counter()
    assert n_split == n_components
    # the product's setting: hub entities (more than HUB_CAP customers) left out first
    from lendguard.graph.index import HUB_CAP

    capped_start = time.perf_counter()
    capped, n_capped = components_from_links(customers, entities, n_c, n_e, hub_cap=HUB_CAP)
    capped_s = time.perf_counter() - capped_start
    largest = int(np.bincount(capped).max())
    return {
        "hub_cap_run": {
            "hub_cap": HUB_CAP,
            "seconds": round(capped_s, 3),
            "components_among_customers": n_capped,
            "largest_component_customers": largest,
        },
        "library": f"igraph {ig.__version__}",
        "what": "lendguard.graph.rings.components_from_links (build + partition)",
        "runs_s": [round(r, 3) for r in runs],
        "cpu_s": [round(c, 3) for c in cpus],
        "first_s": round(runs[0], 3),
        "best_s": round(min(runs), 3),
        "load_average": {"start": load_start, "end": _load_average()},
        "split_run": {
            "build_s": round(built - started, 3),
            "components_and_labels_s": round(done - built, 3),
        },
        "graph": {"vertices": graph.vcount(), "edges": graph.ecount()},
        "components_among_customers": n_components,
        "memory_baseline": baseline,
        "memory_after_timed_runs": after_runs,
        "memory_end": memory(),
    }


def _worker_networkx(data: Path, repeat: int) -> dict[str, Any]:
    import networkx as nx

    customers, entities, meta = _load(data)
    n_c = meta["n_customers"]
    gc.collect()
    baseline = memory()
    load_start = _load_average()
    runs: list[dict[str, float]] = []
    graph: Any = None
    components: list[set[int]] = []
    for _ in range(repeat):
        graph = None
        components = []
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        left = customers.tolist()
        right = (entities + n_c).tolist()
        converted = time.perf_counter()
        graph = nx.Graph()
        graph.add_edges_from(zip(left, right, strict=True))
        graph.add_nodes_from(range(n_c))  # customers without links would be singletons
        del left, right
        built = time.perf_counter()
        components = list(nx.connected_components(graph))
        done = time.perf_counter()
        runs.append(
            {
                "tolist_s": converted - started,
                "add_edges_s": built - converted,
                "build_s": built - started,
                "components_s": done - built,
                "total_s": done - started,
                "cpu_s": time.process_time() - cpu,
            }
        )
    peak_after_runs = memory()
    sizes = np.array(
        [n for n in (sum(1 for v in comp if v < n_c) for comp in components) if n],
        dtype=np.int64,
    )
    np.save(data / "networkx_sizes.npy", np.sort(sizes))
    best = min(runs, key=lambda r: r["total_s"])
    return {
        "library": f"networkx {nx.__version__}",
        "what": "Graph.add_edges_from of (customer, n_customers + entity) tuples + "
        "list(connected_components)",
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
        "first": {k: round(v, 3) for k, v in runs[0].items()},
        "best": {k: round(v, 3) for k, v in best.items()},
        "first_s": round(runs[0]["total_s"], 3),
        "best_s": round(best["total_s"], 3),
        "load_average": {"start": load_start, "end": _load_average()},
        "graph": {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()},
        "components_among_customers": len(sizes),
        "memory_baseline": baseline,
        "memory_after_timed_runs": peak_after_runs,
        "memory_end": memory(),
    }


def _worker_leiden(data: Path, seed: int) -> dict[str, Any]:
    import igraph as ig

    customers, entities, meta = _load(data)
    n_c, n_e = meta["n_customers"], meta["n_entities"]
    gc.collect()
    baseline = memory()
    random.seed(seed)
    ig.set_random_number_generator(random)
    load_start = _load_average()
    started = time.perf_counter()
    edges = np.empty((len(customers), 2), dtype=np.int64)
    edges[:, 0] = customers
    edges[:, 1] = entities + n_c
    graph = ig.Graph(n=n_c + n_e, edges=edges)
    built, cpu = time.perf_counter(), time.process_time()
    clustering = graph.community_leiden(objective_function="modularity", n_iterations=2)
    done, cpu = time.perf_counter(), time.process_time() - cpu
    sizes = np.bincount(np.asarray(clustering.membership, dtype=np.int64))
    return {
        "library": f"igraph {ig.__version__}",
        "what": "community_leiden(objective_function='modularity', n_iterations=2) on the "
        "whole bipartite customer-entity graph (unweighted)",
        "build_s": round(built - started, 3),
        "leiden_s": round(done - built, 3),
        "leiden_cpu_s": round(cpu, 3),
        "load_average": {"start": load_start, "end": _load_average()},
        "communities": len(clustering),
        "largest_community_vertices": int(sizes.max()),
        "modularity": round(float(clustering.modularity), 4),
        "memory_baseline": baseline,
        "memory_end": memory(),
    }


def _run_worker(kind: str, data: Path, repeat: int, seed: int) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--data",
        str(data),
        "--repeat",
        str(repeat),
        "--seed",
        str(seed),
    ]
    subprocess.run(command, check=True, timeout=WORKER_TIMEOUT_S)
    result: dict[str, Any] = json.loads((data / f"{kind}.json").read_text())
    return result


# =============================================================================================
# The benchmark
# =============================================================================================


def _size_summary(sizes: np.ndarray) -> dict[str, Any]:
    return {
        "components": len(sizes),
        "largest": [int(s) for s in sizes[::-1][:5]],
        "singletons": int((sizes == 1).sum()),
        "size_2_to_50": int(((sizes >= 2) & (sizes <= 50)).sum()),
        "size_51_to_1000": int(((sizes > 50) & (sizes <= 1000)).sum()),
        "above_1000": int((sizes > 1000).sum()),
    }


def run_graph_scale(
    n_customers: int = DEFAULT_CUSTOMERS,
    n_links: int = DEFAULT_LINKS,
    seed: int = DEFAULT_SEED,
    repeat: int = 3,
    nx_repeat: int = 1,
    networkx: bool = True,
    leiden: bool = True,
    log: Any = None,
) -> dict[str, Any]:
    say = log or (lambda _: None)
    say(f"graph_scale: generating {n_customers:,} customers, {n_links:,} links (seed {seed})")
    started = time.perf_counter()
    links = make_links(n_customers, n_links, seed)
    generation_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "machine": machine_info(),
        "workload": {"seed": seed, **links["stats"]},
        "generation": {"s": round(generation_s, 3), "memory_after": memory()},
    }
    with tempfile.TemporaryDirectory(prefix="lendguard-graph-") as tmp:
        data = Path(tmp)
        np.save(data / "customers.npy", links["customers"])
        np.save(data / "entities.npy", links["entities"])
        (data / "meta.json").write_text(
            json.dumps({"n_customers": n_customers, "n_entities": links["n_entities"]})
        )
        members, ring_of = links.pop("ring_members"), links.pop("ring_of")
        del links
        gc.collect()
        say(f"graph_scale: igraph components_from_links × {repeat} (subprocess)")
        result["igraph"] = _run_worker("igraph", data, repeat, seed)
        labels = np.load(data / "igraph_labels.npy")
        ig_sizes = _size_summary(_sizes_igraph(labels))
        # every planted ring lies inside one component
        ring_labels = labels[members]
        first = np.full(ring_of.max() + 1, -1, dtype=np.int64)
        first[ring_of[::-1]] = ring_labels[::-1]
        result["igraph"]["rings_within_one_component"] = bool((ring_labels == first[ring_of]).all())
        result["partition"] = ig_sizes
        if networkx:
            say(f"graph_scale: networkx add_edges_from + connected_components × {nx_repeat}")
            result["networkx"] = _run_worker("networkx", data, nx_repeat, seed)
            nx_sizes = np.load(data / "networkx_sizes.npy")
            same = bool(np.array_equal(_sizes_igraph(labels), nx_sizes))
            assert same, "igraph and networkx partitions of the customers differ"
            result["same_partition"] = same
            result["networkx_to_igraph"] = {
                "first": round(result["networkx"]["first_s"] / result["igraph"]["first_s"], 2),
                "best": round(result["networkx"]["best_s"] / result["igraph"]["best_s"], 2),
            }
        if leiden:
            say("graph_scale: igraph Leiden on the bipartite graph (subprocess)")
            result["leiden"] = _run_worker("leiden", data, 1, seed)
    measured = result["igraph"]["first_s"]
    result["goal"] = {
        "customers": n_customers,
        "links": n_links,
        "target_s": GOAL_S,
        "measured_first_s": measured,
        "measured_best_s": result["igraph"]["best_s"],
        "met": measured <= GOAL_S,
    }
    return result


def table(result: dict[str, Any]) -> Table:
    machine = result["machine"]
    work = result["workload"]
    out = Table(
        title=(
            f"Entity-link graph, {work['customers']:,} customers, {work['links']:,} links, "
            f"{work['entities']:,} entities; {machine['cpu_model']} × {machine['cores']} cores"
        )
    )
    out.add_column("measurement")
    for name in ("first s", "best s", "baseline RSS MiB", "peak RSS MiB", "peak − baseline"):
        out.add_column(name, justify="right")
    out.add_column("notes")

    def mem(block: dict[str, Any]) -> tuple[str, str, str]:
        base = block["memory_baseline"]["rss_mib"]
        peak = block["memory_end"]["peak_rss_mib"]
        return f"{base:,.0f}", f"{peak:,.0f}", f"{peak - base:,.0f}"

    gen = result["generation"]
    out.add_row(
        "generation (not timed for the goal)",
        f"{gen['s']:.2f}",
        "",
        "",
        f"{gen['memory_after']['peak_rss_mib']:,.0f}",
        "",
        f"RSS after: {gen['memory_after']['rss_mib']:,.0f} MiB",
    )
    ig_block = result["igraph"]
    split = ig_block["split_run"]
    out.add_row(
        "igraph components_from_links",
        f"{ig_block['first_s']:.2f}",
        f"{ig_block['best_s']:.2f}",
        *mem(ig_block),
        f"{len(ig_block['runs_s'])} runs, CPU first {ig_block['cpu_s'][0]:.2f} s, "
        f"least {min(ig_block['cpu_s']):.2f} s; split run: build {split['build_s']:.2f} s + "
        f"components {split['components_and_labels_s']:.2f} s",
    )
    nx_block = result.get("networkx")
    if nx_block:
        first = nx_block["first"]
        out.add_row(
            "networkx build + connected_components",
            f"{nx_block['first_s']:.2f}",
            f"{nx_block['best_s']:.2f}",
            *mem(nx_block),
            f"tolist {first['tolist_s']:.1f} + add_edges {first['add_edges_s']:.1f} + "
            f"components {first['components_s']:.1f} s (CPU {first['cpu_s']:.1f} s); "
            f"{result['networkx_to_igraph']['first']:.1f}× igraph",
        )
    leiden = result.get("leiden")
    if leiden:
        out.add_row(
            "igraph Leiden, bipartite graph",
            f"{leiden['leiden_s']:.2f}",
            "",
            *mem(leiden),
            f"+ build {leiden['build_s']:.1f} s; {leiden['communities']:,} communities, "
            f"Q = {leiden['modularity']:.3f}",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--links", type=int, default=DEFAULT_LINKS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="igraph runs (first and best)")
    parser.add_argument("--nx-repeat", type=int, default=1, help="networkx runs")
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--no-leiden", dest="leiden", action="store_false")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    parser.add_argument(
        "--worker", choices=["igraph", "networkx", "leiden"], help=argparse.SUPPRESS
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        workers = {
            "igraph": lambda: _worker_igraph(args.data, args.repeat),
            "networkx": lambda: _worker_networkx(args.data, args.repeat),
            "leiden": lambda: _worker_leiden(args.data, args.seed),
        }
        block = workers[args.worker]()
        (args.data / f"{args.worker}.json").write_text(json.dumps(block))
        return 0

    stderr = Console(stderr=True)
    result = run_graph_scale(
        args.customers,
        args.links,
        args.seed,
        args.repeat,
        args.nx_repeat,
        networkx=not args.skip_networkx,
        leiden=args.leiden,
        log=stderr.print,
    )
    console = Console() if sys.stdout.isatty() else Console(width=140)
    console.print(table(result))
    goal = result["goal"]
    console.print(
        f"goal: {goal['customers']:,} customers, {goal['links']:,} links built and partitioned "
        f"in ≤ {goal['target_s']:.0f} s: first run {goal['measured_first_s']:.2f} s, best "
        f"{goal['measured_best_s']:.2f} s — {'met' if goal['met'] else 'NOT met'}; "
        f"{result['partition']['components']:,} components among customers"
        + ("; same partition as networkx" if result.get("same_partition") else "")
    )
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    stderr.print(f"written to {args.out}")
    return 0 if goal["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
