"""Where each state, edge label and edge bend of the state diagram goes: a layered layout.

The HTML report must be one self-contained file that fetches nothing when it is opened, so the
diagram cannot be laid out by Mermaid or Graphviz in the browser; it is laid out here, in Python
(`svg_diagram` draws it). A small Sugiyama-style layered drawing, enough for the
handful-of-states machines scenarios are:

1. layers: edges that close a cycle (found by a depth-first walk from the initial state) are
   reversed, then every state goes one layer below its lowest predecessor (longest path), so a
   scenario reads top to bottom in the order it runs;
2. every edge becomes a chain through the layers it crosses, with one *label node* as wide as its
   trigger text right next to the state it leaves: labels then take part in the placement and
   never overlap states or each other; an edge across more than `LONG_SPAN` layers of states is a
   *jump* instead, a short arrow to a "→ target: trigger" label (a chain through every layer made
   large scenarios quadratic, and a tangle);
3. each layer is ordered by the barycentre of its neighbours (a few sweeps, the ordering with the
   fewest crossings wins), then x positions are relaxed toward the neighbours' mean while keeping
   the order and the spacing.

A compound state is a box around its own node and the states nested in it: `svg_boxes` keeps
each box's items together and everything else out of it.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from .svg_boxes import (
    BOX_HEAD,
    BOX_PAD,
    Cluster,
    box_x,
    clusters_of,
    common,
    fill,
    group,
    separate,
    stack_margins,
    state_paths,
)
from .svg_graph import (
    ANY,
    ANY_LABEL,
    DUMMY_W,
    LABEL_CHAR_W,
    LABEL_H,
    LONG_SPAN,
    MARGIN,
    NODE_GAP,
    NODE_H,
    RANK_GAP,
    TOP,
    Graph,
    Item,
    edge_label,
    node_half_width,
    text_width,
)


@dataclass(slots=True)
class Layout:
    """Where everything goes: the items by key and by rank, each edge's chain of items."""

    items: dict[str, Item]
    ranks: list[list[str]]
    chains: dict[int, list[str]]  # edge index -> item keys from upper end to lower end
    reversed: set[int]  # edges drawn upward (they close a cycle)
    jumps: set[int]  # edges drawn as a short arrow to a "→ target" label (they span many layers)
    rank_y: list[float]  # centre y of each rank
    width: float
    height: float
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    # compound state -> its box (x0, y0, x1, y1), outermost first


def _filler(key: str, rank: int, path: tuple[str, ...]) -> Item:
    return Item(key, "dummy", rank, 1, 1, path=path)


def _layers(graph: Graph) -> tuple[dict[str, int], set[int], list[str]]:
    nodes = list(graph.states)
    if any(e.source == ANY for e in graph.edges):
        nodes.append(ANY)
    out: dict[str, list[tuple[int, str]]] = {n: [] for n in nodes}
    for i, e in enumerate(graph.edges):
        if e.source != e.target and e.target in out and e.source in out:
            out[e.source].append((i, e.target))
    # depth-first from the initial state, then the rest: edges to a state on the stack close a
    # cycle. Iterative (an explicit stack of edge iterators): scenarios can have thousands of states.
    order: list[str] = []
    back: set[int] = set()
    seen: set[str] = set()
    on_stack: set[str] = set()
    starts = [graph.initial] if graph.initial in out else []
    for root in starts + nodes:
        if root in seen:
            continue
        seen.add(root)
        on_stack.add(root)
        order.append(root)
        stack = [(root, iter(out[root]))]
        while stack:
            n, edges = stack[-1]
            for i, m in edges:
                if m in on_stack:
                    back.add(i)
                elif m not in seen:
                    seen.add(m)
                    on_stack.add(m)
                    order.append(m)
                    stack.append((m, iter(out[m])))
                    break
            else:
                stack.pop()
                on_stack.discard(n)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes:
        for i, m in out[n]:
            u, v = (m, n) if i in back else (n, m)
            preds[v].append(u)
            succs[u].append(v)
    layer: dict[str, int] = {}
    indeg = {n: len(preds[n]) for n in nodes}
    ready = deque(n for n in order if indeg[n] == 0)
    while ready:
        n = ready.popleft()
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
        for m in succs[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return layer, back, order


def layout(graph: Graph, taken: Counter[str] | None = None) -> Layout:
    """Every item of `graph`'s drawing placed (`taken` widens the labels that show a count)."""
    taken = taken or Counter()
    layer, back, order = _layers(graph)
    items: dict[str, Item] = {}
    paths = state_paths(graph.states, graph.parents)
    for n in order:
        half = node_half_width(ANY_LABEL if n == ANY else n)
        kind = "any" if n == ANY else "state"
        items[n] = Item(n, kind, 2 * layer[n], half, half, path=paths.get(n, ()))
    chains, jumps = _chains(graph, taken, items, back)
    for it in items.values():  # loops and their labels widen a state on its right
        if it.loops:
            labels = [edge_label(graph.edges[i], taken[graph.edges[i].id]) for i in it.loops]
            it.right += (
                14 + 8 * len(it.loops) + max(text_width(t, LABEL_CHAR_W) for t in labels) + 8
            )
    if graph.parents:
        fill(items, _filler)
    n_ranks = max((it.rank for it in items.values()), default=0) + 1
    ranks: list[list[str]] = [[] for _ in range(n_ranks)]
    for key, it in items.items():
        ranks[it.rank].append(key)
    up_nb: dict[str, list[str]] = {k: [] for k in items}
    down_nb: dict[str, list[str]] = {k: [] for k in items}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:], strict=False):
            down_nb[a].append(b)
            up_nb[b].append(a)
    ranks = _order(ranks, up_nb, down_nb)
    nested = bool(graph.parents)
    if nested:
        ranks = group(ranks, items)
    _place(items, ranks, up_nb, down_nb)
    clusters = clusters_of(items) if nested else {}
    if clusters:
        separate(items, ranks, clusters)
        left = min(box_x(cl, items)[0] for cl in clusters.values())
        for it in items.values():  # the outermost boxes' edges, too, right of the margin
            it.x += max(0.0, MARGIN - left)
    lay = Layout(items, ranks, chains, back - jumps, jumps, [], 0.0, 0.0)
    _vertical(lay, clusters, n_ranks)
    return lay


def _chains(
    graph: Graph, taken: Counter[str], items: dict[str, Item], back: set[int]
) -> tuple[dict[int, list[str]], set[int]]:
    """Each edge as a chain of items from its upper end to its lower end (a label next to the
    state it leaves, dummies through the layers between), or a jump; (chains, jumps). Self-loops
    go to their state's `loops`."""
    chains: dict[int, list[str]] = {}
    jumps: set[int] = set()
    for i, e in enumerate(graph.edges):
        if e.source not in items:
            continue
        if e.source == e.target:
            items[e.source].loops.append(i)
            continue
        if e.target not in items:
            continue
        up, down = (e.target, e.source) if i in back else (e.source, e.target)
        inside = common(items[up].path, items[down].path)  # the boxes the edge stays in
        r0, r1 = items[up].rank, items[down].rank
        if r1 - r0 > 2 * LONG_SPAN:
            # a jump: a short arrow to a label naming the target ("→ target: trigger"), not a
            # chain through every layer between (that was quadratic in large scenarios, and a
            # tangle long before)
            key = f"\x00e{i}"
            source = items[e.source]
            w = text_width(edge_label(e, taken[e.id], jump=True), LABEL_CHAR_W) + 10
            items[key] = Item(key, "label", source.rank + 1, 6, w + 3, edge=i, path=inside)
            chains[i] = [e.source, key]
            jumps.add(i)
            continue
        label_rank = r1 - 1 if i in back else r0 + 1  # the label sits next to the state it leaves
        chain = [up]
        for r in range(r0 + 1, r1):
            key = f"\x00e{i}r{r}"
            if r == label_rank:
                w = text_width(edge_label(e, taken[e.id]), LABEL_CHAR_W) + 10
                items[key] = Item(key, "label", r, 6, w + 3, edge=i, path=inside)
            else:
                half = DUMMY_W / 2
                items[key] = Item(key, "dummy", r, half, half, edge=i, path=inside)
            chain.append(key)
        chain.append(down)
        chains[i] = chain
    return chains, jumps


def _vertical(lay: Layout, clusters: dict[str, Cluster], n_ranks: int) -> None:
    """Vertical positions, the boxes and the size: state ranks are taller than label ranks; a
    box's name goes above its top rank, and nested boxes that start (or end) at one rank stack
    their margins."""
    items = lay.items
    head, foot = stack_margins(clusters, n_ranks)
    rank_y, rank_h, y = [], [], TOP
    for r in range(n_ranks):
        h = NODE_H if r % 2 == 0 else LABEL_H
        y += BOX_HEAD * head[r]
        rank_y.append(y + h / 2)
        rank_h.append(h)
        y += h + BOX_PAD * foot[r] + RANK_GAP
    lay.rank_y = rank_y
    lay.height = y - RANK_GAP + MARGIN
    for c, cl in clusters.items():
        x0, x1 = box_x(cl, items)
        y0 = rank_y[cl.top] - rank_h[cl.top] / 2 - BOX_HEAD * cl.head
        y1 = rank_y[cl.bottom] + rank_h[cl.bottom] / 2 + BOX_PAD * cl.foot
        lay.boxes[c] = (x0, y0, x1, y1)
    width = max((it.x + it.right for it in items.values()), default=0) + MARGIN
    lay.width = max([width] + [b[2] + MARGIN for b in lay.boxes.values()])


def crossings(ranks: list[list[str]], down_nb: dict[str, list[str]]) -> int:
    """Edge crossings between consecutive ranks: inversions counted with a Fenwick tree."""
    total = 0
    for upper, lower in zip(ranks, ranks[1:], strict=False):
        pos = {k: i for i, k in enumerate(lower)}
        pairs = sorted((i, pos[b]) for i, a in enumerate(upper) for b in down_nb[a] if b in pos)
        tree = [0] * (len(lower) + 1)
        for seen, (_, low) in enumerate(pairs):
            # earlier pairs (smaller upper position, or the same one) ending right of `low` cross
            # it; those of the same upper node end left of it, as pairs are sorted
            j, not_right = low + 1, 0
            while j > 0:
                not_right += tree[j]
                j -= j & -j
            total += seen - not_right
            j = low + 1
            while j <= len(lower):
                tree[j] += 1
                j += j & -j
    return total


def _order(
    ranks: list[list[str]], up_nb: dict[str, list[str]], down_nb: dict[str, list[str]]
) -> list[list[str]]:
    best, best_c = [list(r) for r in ranks], crossings(ranks, down_nb)
    cur = [list(r) for r in ranks]
    for sweep in range(8):
        downward = sweep % 2 == 0
        seq = range(1, len(cur)) if downward else range(len(cur) - 2, -1, -1)
        for r in seq:
            ref = cur[r - 1] if downward else cur[r + 1]
            nb = up_nb if downward else down_nb
            pos = {k: i for i, k in enumerate(ref)}

            def bary(k: str, i: int, pos=pos, nb=nb) -> float:
                ps = [pos[n] for n in nb[k] if n in pos]
                return sum(ps) / len(ps) if ps else float(i)

            cur[r] = [k for _, k in sorted(((bary(k, i), i), k) for i, k in enumerate(cur[r]))]
        c = crossings(cur, down_nb)
        if c < best_c:
            best, best_c = [list(r) for r in cur], c
    return best


def _gap(a: Item, b: Item) -> float:
    g = NODE_GAP if a.kind in ("state", "any") and b.kind in ("state", "any") else 8
    if a.path or b.path:  # room for the box edges between them
        g += (BOX_PAD + 4) * (len(a.path) + len(b.path) - 2 * len(common(a.path, b.path)))
    return a.right + b.left + g


def _place(
    items: dict[str, Item],
    ranks: list[list[str]],
    up_nb: dict[str, list[str]],
    down_nb: dict[str, list[str]],
) -> None:
    for rank in ranks:  # packed from the left
        x = 0.0
        for i, k in enumerate(rank):
            x = x + _gap(items[rank[i - 1]], items[k]) if i else items[k].left
            items[k].x = x
    for _ in range(12):
        for rank in ranks + ranks[::-1]:
            its = [items[k] for k in rank]
            want = []
            for it in its:
                xs = [items[n].x for n in up_nb[it.key] + down_nb[it.key]]
                want.append(sum(xs) / len(xs) if xs else it.x)
            lft, rgt = list(want), list(want)
            for i in range(1, len(its)):  # push right, keeping the order and spacing
                lft[i] = max(lft[i], lft[i - 1] + _gap(its[i - 1], its[i]))
            for i in range(len(its) - 2, -1, -1):  # push left
                rgt[i] = min(rgt[i], rgt[i + 1] - _gap(its[i], its[i + 1]))
            for it, a, b in zip(its, lft, rgt, strict=True):
                it.x = (a + b) / 2  # both are feasible, so is their mean
    shift = MARGIN - min((it.x - it.left for it in items.values()), default=0)
    for it in items.values():
        it.x += shift
