"""The model's networks: who rents compute from whom, who owns and lends to whom, who talks.

The social graphs (adopters, investors) are fixed small worlds built from the model's
generator; their scipy adjacency matrices drive imitation and herding. The compute graph
is a live networkx DiGraph whose edges carry this month's contracts. The capital graph and
the lab -> adopter service edges change every month with holdings and adoption, so they
are assembled from the live state on demand (`snapshot`), ready to draw or export.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def child_seed(rng: np.random.Generator) -> int:
    """An integer seed for networkx drawn from the model's generator."""
    return int(rng.integers(0, 2**31 - 1))


def small_world(n: int, degree: int, rewiring: float, rng: np.random.Generator) -> sp.csr_array:
    """Connected Watts-Strogatz graph: local clusters plus a few long ties (adjacency matrix).

    The graph networkx's connected_watts_strogatz_graph draws from the same seed: the same
    ring lattice, and the same random calls in the same order to rewire it, retried until
    connected. Kept on Python sets rather than a networkx Graph, it is several times
    faster to build for thousands of nodes; `graph` turns the matrix into a networkx Graph
    when one is wanted.
    """
    k = min(degree, n - 1)
    k -= k % 2
    k = max(k, 2)
    seed = child_seed(rng)
    if k >= n:  # too few nodes for a ring lattice: networkx's own answer (or error)
        return adjacency(nx.connected_watts_strogatz_graph(n, k, rewiring, seed=seed))
    draws = random.Random(seed)
    for _ in range(100):  # networkx's default number of tries
        matrix = _adjacency_of(_watts_strogatz(n, k, rewiring, draws))
        if connected_components(matrix, directed=False)[0] == 1:
            return matrix
    raise nx.NetworkXError("Maximum number of tries exceeded")


def _watts_strogatz(n: int, k: int, p: float, draws: random.Random) -> list[set[int]]:
    """Each node's neighbours, rewired as networkx.watts_strogatz_graph rewires them."""
    neighbours = [set() for _ in range(n)]
    for j in range(1, k // 2 + 1):
        for u in range(n):
            v = (u + j) % n
            neighbours[u].add(v)
            neighbours[v].add(u)
    nodes = list(range(n))
    uniform, choice = draws.random, draws.choice
    for j in range(1, k // 2 + 1):  # outer loop over distance, inner over nodes in order
        for u in range(n):
            if uniform() < p:
                w = choice(nodes)
                while w == u or w in neighbours[u]:  # no self-loops or double edges
                    w = choice(nodes)
                    if len(neighbours[u]) >= n - 1:
                        break  # skip this rewiring
                else:
                    v = (u + j) % n
                    neighbours[u].discard(v)
                    neighbours[v].discard(u)
                    neighbours[u].add(w)
                    neighbours[w].add(u)
    return neighbours


def _adjacency_of(neighbours: list[set[int]]) -> sp.csr_array:
    """The matrix networkx.to_scipy_sparse_array gives for these neighbours: integer ones,
    column indices sorted within each row."""
    n = len(neighbours)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(s) for s in neighbours], out=indptr[1:])
    indices = np.fromiter(itertools.chain.from_iterable(neighbours), np.int64, int(indptr[-1]))
    matrix = sp.csr_array((np.ones(indices.size, dtype=np.int64), indices, indptr), shape=(n, n))
    matrix.sort_indices()
    return matrix


def graph(matrix: sp.csr_array) -> nx.Graph:
    """A social network as a networkx Graph, nodes 0..n-1."""
    return nx.from_scipy_sparse_array(matrix)


def adjacency(graph: nx.Graph) -> sp.csr_array:
    return nx.to_scipy_sparse_array(graph, nodelist=range(graph.number_of_nodes()), format="csr")


def contract_graph(lab_names, hyperscaler_names, contracts_per_lab, rng) -> nx.DiGraph:
    """Each lab contracts with a few hyperscalers, with random shares of its demand."""
    graph = nx.DiGraph()
    graph.add_nodes_from(hyperscaler_names, kind="hyperscaler")
    graph.add_nodes_from(lab_names, kind="lab")
    for lab in lab_names:
        partners = rng.choice(len(hyperscaler_names), contracts_per_lab, replace=False)
        shares = rng.dirichlet(np.ones(contracts_per_lab))
        for k, share in zip(partners, shares, strict=True):
            graph.add_edge(
                hyperscaler_names[k], lab, share=float(share), gpu_hours=0.0, usd_per_gpu_hour=0.0
            )
    return graph


def snapshot(model, adopter_sample: int | None = 200) -> nx.MultiDiGraph:
    """The compute and capital networks as they stand this month, one multigraph.

    Edge 'layer' is compute (hyperscaler -> lab GPU-hours, lab -> adopter tokens), equity
    (investor -> firm, value held) or debt (investor -> firm, claims). Adopters beyond
    adopter_sample are left out so the picture stays readable (None keeps all).
    """
    g = nx.MultiDiGraph(month=model.month, date=str(model.date.date()))
    market = model.capital_market
    for firm in model.firms:
        g.add_node(
            firm.name,
            kind=type(firm).__name__.lower(),
            alive=firm.alive,
            value_usd_bn=float(market.market_cap[firm.firm]),
        )
    for h, lab, data in model.compute_market.graph.edges(data=True):
        g.add_edge(
            h,
            lab,
            layer="compute",
            gpu_hours=data["gpu_hours"],
            usd_per_gpu_hour=data["usd_per_gpu_hour"],
        )
    pool = model.adopter_pool
    rows = np.flatnonzero(pool.adopted)
    if adopter_sample is not None:
        rows = rows[:adopter_sample]
    for row in rows:
        name = f"adopter_{row}"
        g.add_node(name, kind="adopter", sector=int(pool.sector[row]))
        g.add_edge(
            model.labs[int(pool.provider[row])].name,
            name,
            layer="compute",
            tokens_per_month=float(pool.tasks_per_month[row] * pool.tokens_per_task[row]),
        )
    wealth = model.investor_pool.wealth()
    for row in range(market.holdings.shape[0]):
        name = f"investor_{row}"
        g.add_node(
            name,
            kind="investor",
            chartist=bool(model.investor_pool.chartist[row]),
            wealth_usd_bn=float(wealth[row]),
        )
        for firm in model.firms:
            held = market.holdings[row, firm.firm] * market.price[firm.firm]
            if held > 0:
                g.add_edge(name, firm.name, layer="equity", value_usd_bn=float(held))
            claim = market.debt_claims[row, firm.firm]
            if claim > 0:
                g.add_edge(name, firm.name, layer="debt", value_usd_bn=float(claim))
    return g


def export_graphml(model, path: str | Path, adopter_sample: int | None = 200) -> Path:
    """Write this month's snapshot as GraphML (readable by Gephi, yEd, networkx)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    nx.write_graphml(snapshot(model, adopter_sample), tmp)
    tmp.replace(path)
    return path
