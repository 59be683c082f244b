"""Resolution quality against known truth: pairwise and B³ precision/recall/F1 (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def pairwise(predicted: Mapping[str, str], truth: Mapping[str, str]) -> PRF:
    """Pairs of records put together: precision over predicted pairs, recall over true pairs."""
    keys = predicted.keys() & truth.keys()
    pred_sizes = Counter(predicted[k] for k in keys)
    true_sizes = Counter(truth[k] for k in keys)
    both = Counter((predicted[k], truth[k]) for k in keys)
    pairs = lambda c: sum(n * (n - 1) // 2 for n in c.values())  # noqa: E731
    tp, pp, tt = pairs(both), pairs(pred_sizes), pairs(true_sizes)
    p = tp / pp if pp else 1.0
    r = tp / tt if tt else 1.0
    return PRF(p, r, _f1(p, r))


def bcubed(predicted: Mapping[str, str], truth: Mapping[str, str]) -> PRF:
    """B³: per record, the share of its predicted cluster that is truly its own, and back."""
    keys = predicted.keys() & truth.keys()
    pred_sizes = Counter(predicted[k] for k in keys)
    true_sizes = Counter(truth[k] for k in keys)
    both = Counter((predicted[k], truth[k]) for k in keys)
    p = sum(both[(predicted[k], truth[k])] / pred_sizes[predicted[k]] for k in keys)
    r = sum(both[(predicted[k], truth[k])] / true_sizes[truth[k]] for k in keys)
    n = len(keys) or 1
    return PRF(p / n, r / n, _f1(p / n, r / n))


def largest_cluster_people(predicted: Mapping[str, str], truth: Mapping[str, str]) -> tuple[int, int]:
    """Size of the largest predicted subject and how many true people it holds (chaining)."""
    members: dict[str, list[str]] = {}
    for k, s in predicted.items():
        members.setdefault(s, []).append(k)
    if not members:
        return 0, 0
    big = max(members.values(), key=len)
    return len(big), len({truth.get(k) for k in big})
