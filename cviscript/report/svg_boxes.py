"""Compound states as boxes in the inline SVG state diagram (laid out by `svg_layout`).

A compound state's box holds its own node and every state nested in it. The layered layout
places items rank by rank, so a box needs three things from it: its items must be contiguous in
every rank it spans (`group` sorts each rank by the boxes around each item, sibling boxes in one
order everywhere, so boxes never interleave), it must have an item in every one of those ranks
(`fill` adds point-wide fillers, so grouping has something to keep the rest of the rank out of),
and nothing outside may reach into it from a rank where the box is wider than its own items
(`separate` pushes items and boxes right until that holds). Gaps between neighbours already
leave room for box edges (the layout's gap rule). Everything is a few linear passes per box.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .svg_graph import Item

BOX_PAD = 10  # room between a compound state's box and what it holds
BOX_HEAD = 20  # room above a box's top rank for its name


@dataclass(slots=True)
class Cluster:
    """A compound state's box: the items inside it, by rank."""

    depth: int
    path: tuple[str, ...]  # the compound states around it, and itself
    top: int = 1 << 30
    bottom: int = -1
    members: dict[int, list[Item]] = field(default_factory=dict)  # rank -> items, in order
    children: list[str] = field(default_factory=list)  # the compound states directly inside
    head: int = 1  # stacked box headers above its top rank (1 + nested boxes starting there)
    foot: int = 1


def state_paths(states: list[str], parents: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Each state -> the compound states whose boxes hold it, outermost first (a compound
    state's own node sits inside its box)."""
    compound = set(parents.values())
    out: dict[str, tuple[str, ...]] = {}
    for name in states:
        chain, p, seen = [], parents.get(name), {name}
        while p is not None and p not in seen:  # iterative; `seen` guards a malformed graph
            seen.add(p)
            chain.append(p)
            p = parents.get(p)
        own = (name,) if name in compound else ()
        out[name] = tuple(reversed(chain)) + own
    return out


def common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]


def group(ranks: list[list[str]], items: dict[str, Item]) -> list[list[str]]:
    """Make the items of each box contiguous in every rank. Sibling boxes keep one order in
    every rank (by their items' mean relative position), so their boxes cannot interleave."""
    pos: dict[str, float] = {}
    for rank in ranks:
        for i, k in enumerate(rank):
            pos[k] = (i + 0.5) / len(rank)
    total: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for k, it in items.items():
        for c in it.path:
            total[c] += pos[k]
            count[c] += 1
    g = {c: total[c] / count[c] for c in total}

    def key(k: str) -> tuple[tuple[float, str], ...]:
        return tuple((g[c], c) for c in items[k].path) + ((pos[k], ""),)

    return [sorted(rank, key=key) for rank in ranks]


def clusters_of(items: dict[str, Item]) -> dict[str, Cluster]:
    out: dict[str, Cluster] = {}
    for it in items.values():
        for d, c in enumerate(it.path):
            cl = out.get(c)
            if cl is None:
                cl = out[c] = Cluster(d, it.path[: d + 1])
                if d:
                    out[it.path[d - 1]].children.append(c)
            cl.top, cl.bottom = min(cl.top, it.rank), max(cl.bottom, it.rank)
            cl.members.setdefault(it.rank, []).append(it)
    return out


def fill(items: dict[str, Item], make: Callable[[str, int, tuple[str, ...]], Item]) -> None:
    """Give every box an item in every rank it spans (a point-wide filler where it has none), so
    that grouping and separating keep whatever else is in that rank out of it."""
    clusters = clusters_of(items)
    for c in sorted(clusters, key=lambda c: -clusters[c].depth):  # inner fillers count outside
        cl = clusters[c]
        for r in range(cl.top, cl.bottom + 1):
            if r not in cl.members:
                key = f"\x00box{c}\x00{r}"
                items[key] = filler = make(key, r, cl.path)
                for d in cl.path:
                    clusters[d].members.setdefault(r, []).append(filler)


def box_x(cl: Cluster, items: dict[str, Item]) -> tuple[float, float]:
    x0 = x1 = None
    for its in cl.members.values():
        for it in its:
            pad = BOX_PAD * (len(it.path) - cl.depth)  # its own box and those nested between
            lo, hi = it.x - it.left - pad, it.x + it.right + pad
            x0 = lo if x0 is None or lo < x0 else x0
            x1 = hi if x1 is None or hi > x1 else x1
    return x0 or 0.0, x1 or 0.0


def separate(items: dict[str, Item], ranks: list[list[str]], clusters: dict[str, Cluster]) -> None:
    """Push items (and boxes) right until no item outside a box reaches into it, in any rank
    the box spans, and no two sibling boxes overlap: placement only keeps neighbours in one rank
    apart, while a box is as wide as its widest rank. Only rightward moves, a bounded number of
    passes."""
    index = {k: i for rank in ranks for i, k in enumerate(rank)}
    siblings: dict[tuple[str, ...], list[str]] = {}
    for c, cl in clusters.items():
        siblings.setdefault(cl.path[:-1], []).append(c)
    siblings_list = [g for g in siblings.values() if len(g) > 1]
    for _ in range(len(clusters) + 4):
        moved = False
        for c, cl in clusters.items():
            x0, x1 = box_x(cl, items)
            for r in range(cl.top, cl.bottom + 1):
                rank = ranks[r]
                inside = [i for i, k in enumerate(rank) if c in items[k].path]
                if not inside:
                    continue  # (cannot happen after `fill`)
                first, last = inside[0], inside[-1]
                if last + 1 < len(rank):  # the item right of the box
                    it = items[rank[last + 1]]
                    pad = BOX_PAD * (len(it.path) - len(common(it.path, cl.path)))
                    over = x1 + 6 - (it.x - it.left - pad)
                    if over > 0.01:
                        for k in rank[last + 1 :]:
                            items[k].x += over
                        moved = True
                if first > 0:  # the item left of the box: move the box, and what is right of it
                    it = items[rank[first - 1]]
                    pad = BOX_PAD * (len(it.path) - len(common(it.path, cl.path)))
                    over = it.x + it.right + pad + 6 - x0
                    if over > 0.01:
                        shift_from(cl, x0, items, ranks, index, over)
                        x0, x1 = x0 + over, x1 + over
                        moved = True
        for group in siblings_list:  # sibling boxes sharing ranks: left to right, apart
            group.sort(key=lambda c: box_x(clusters[c], items)[0])
            for n, c in enumerate(group):
                a = clusters[c]
                for d in group[n + 1 :]:
                    b = clusters[d]
                    if b.top > a.bottom or a.top > b.bottom:
                        continue
                    b0 = box_x(b, items)[0]
                    over = box_x(a, items)[1] + 6 - b0
                    if over > 0.01:
                        shift_from(b, b0, items, ranks, index, over)
                        moved = True
        if not moved:
            return


def shift_from(
    cl: Cluster,
    x0: float,
    items: dict[str, Item],
    ranks: list[list[str]],
    index: dict[str, int],
    by: float,
) -> None:
    """Move a box, and everything right of it in the ranks it spans, `by` to the right."""
    for r in range(cl.top, cl.bottom + 1):
        rank = ranks[r]
        members = cl.members.get(r)
        if members:
            start = min(index[it.key] for it in members)
        else:  # a rank the box spans without items of its own: what is right of its left edge
            start = next((i for i, k in enumerate(rank) if items[k].x - items[k].left >= x0), None)
            if start is None:
                continue
        for k in rank[start:]:
            items[k].x += by


def stack_margins(clusters: dict[str, Cluster], n_ranks: int) -> tuple[list[int], list[int]]:
    """Box headers above each rank and box bottoms below it: nested boxes that start (or end)
    at one rank stack their margins."""
    head, foot = [0] * n_ranks, [0] * n_ranks
    for c in sorted(clusters, key=lambda c: -clusters[c].depth):
        cl = clusters[c]
        for d in cl.children:
            if clusters[d].top == cl.top:
                cl.head = max(cl.head, clusters[d].head + 1)
            if clusters[d].bottom == cl.bottom:
                cl.foot = max(cl.foot, clusters[d].foot + 1)
        head[cl.top] = max(head[cl.top], cl.head)
        foot[cl.bottom] = max(foot[cl.bottom], cl.foot)
    return head, foot
