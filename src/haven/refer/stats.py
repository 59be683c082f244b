"""`refer stats`: what a build would send where, before anything is sent (pure over subjects)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from haven.refer.routing import COORDINATOR, route

CONFIDENCE_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _bin(conf: float) -> str:
    for lo, hi in zip(CONFIDENCE_BINS, CONFIDENCE_BINS[1:]):
        if conf < hi or hi == CONFIDENCE_BINS[-1]:
            return f"{lo:.1f}–{hi:.1f}"
    return f"{CONFIDENCE_BINS[-2]:.1f}–{CONFIDENCE_BINS[-1]:.1f}"  # pragma: no cover


def operation_stats(subjects: Iterable[Mapping], no_legislation: frozenset[str] = frozenset()
                    ) -> dict:
    """Subjects and records per package, confidence distribution, indicators, kept aside."""
    totals: Counter = Counter()
    per: dict[str, Counter] = defaultdict(Counter)
    conf_sum: Counter = Counter()
    bins: Counter = Counter({_bin(lo): 0 for lo in CONFIDENCE_BINS[:-1]})
    indicators: Counter = Counter()
    kept_aside: dict[str, Counter] = defaultdict(Counter)
    for s in subjects:
        n_rec = len(s.get("records") or [])
        totals["subjects"] += 1
        totals["records"] += n_rec
        country = s.get("country")
        if country:
            totals["attributed"] += 1
            bins[_bin(float(s.get("confidence") or 0.0))] += 1
        elif s.get("review"):
            totals["review"] += 1
        else:
            totals["unattributed"] += 1
        if country and len(s.get("countries") or []) > 1:
            totals["shared"] += 1
        for kind in {i["kind"] for i in s.get("indicators") or []}:
            indicators[kind] += 1
        if s.get("indicators"):
            totals["with_indicators"] += 1
        if country:
            for cc in {country, *(s.get("countries") or [])} & no_legislation:
                kept_aside[cc]["subjects"] += 1
                kept_aside[cc]["records"] += n_rec
        for d in route(s, no_legislation):
            c = per[d.package]
            c["subjects"] += 1
            c["records"] += n_rec
            if d.package != COORDINATOR and d.package == country:
                c["primary"] += 1
                conf_sum[d.package] += float(s.get("confidence") or 0.0)
            elif d.package != COORDINATOR:
                c["shared_in"] += 1
    packages = {}
    for code in sorted(per, key=lambda c: (c == COORDINATOR, c)):
        c = per[code]
        row = {"subjects": c["subjects"], "records": c["records"]}
        if code != COORDINATOR:
            row.update(primary=c["primary"], shared_in=c["shared_in"],
                       mean_confidence=round(conf_sum[code] / c["primary"], 3)
                       if c["primary"] else None)
        packages[code] = row
    return {
        "totals": {k: totals[k] for k in ("subjects", "records", "attributed", "review",
                                          "unattributed", "shared", "with_indicators")},
        "packages": packages,
        "countries": sum(1 for c in packages if c != COORDINATOR),
        "confidence": dict(bins),
        "indicators": dict(sorted(indicators.items())),
        "no_legislation": {cc: dict(kept_aside[cc]) if cc in kept_aside
                           else {"subjects": 0, "records": 0}
                           for cc in sorted(no_legislation)},
    }
