"""haven.disjoint: the union-find shared by series, face clusters and card-use grouping."""
import random

from haven.disjoint import DisjointSets


def _components(n, pairs):
    """Reference: connected components by repeated graph search."""
    adj = {i: set() for i in range(n)}
    for a, b in pairs:
        adj[a].add(b)
        adj[b].add(a)
    seen, out = set(), []
    for i in range(n):
        if i in seen:
            continue
        stack, comp = [i], []
        seen.add(i)
        while stack:
            x = stack.pop()
            comp.append(x)
            for y in adj[x] - seen:
                seen.add(y)
                stack.append(y)
        out.append(sorted(comp))
    return sorted(out)


def test_groups_match_graph_components_and_roots_are_smallest_members():
    rng = random.Random(7)
    for trial in range(30):
        n = rng.randint(1, 60)
        pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, n))]
        sets = DisjointSets(range(n))
        for a, b in pairs:
            sets.union(a, b)
        groups = sorted(sorted(g) for g in sets.groups())
        assert groups == _components(n, pairs)
        for g in groups:
            assert {sets.find(k) for k in g} == {g[0]}
            assert sets.size[g[0]] == len(g)


def test_union_is_independent_of_join_order():
    pairs = [(5, 9), (9, 2), (7, 8), (2, 4)]
    a, b = DisjointSets(), DisjointSets()
    for x, y in pairs:
        a.union(x, y)
    for x, y in reversed(pairs):
        b.union(y, x)
    assert {k: a.find(k) for k in a.parent} == {k: b.find(k) for k in b.parent}
    assert a.find(9) == 2 and a.find(8) == 7


def test_find_adds_unknown_keys_and_union_returns_root():
    sets = DisjointSets()
    assert sets.find(42) == 42 and sets.size[42] == 1
    assert sets.union(42, 3) == 3
    assert sets.union(3, 42) == 3
    assert sets.groups() == [[42, 3]]
