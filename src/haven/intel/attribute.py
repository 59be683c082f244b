"""`intel attribute`: subjects → a country each, with the evidence for and against it.

Evidence kinds and their weights (a kind's weight is shared among the countries its rows
name, so ten rows with one IP do not outvote one postal address):

    address (country column) 1.0   phone with +CC 0.9   card/IBAN country 0.7
    IP registry country 0.6        declared country 0.6 national mail provider 0.5
    e-mail ccTLD 0.4               national-format phone 0.3 (read with the row's own hint)
    postcode shape: tie-breaker only

A clear winner (≥ 2× the runner-up) is the country; runners-up with ≥ 20 % of the weight
make the subject shared with them. Anything closer goes to review with no country: split
evidence is never guessed. Fraud/stolen-identity indicators lower the confidence and are
listed; a card used by several different people (card_use.py: `stolen_card`) counts only a
quarter, an IP on a Tor exit list a tenth and an IP in a hosting/VPN range a quarter
(anonymisers.py: offline lists only). A card shared inside one household (`household_card`)
is listed but lowers nothing.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from haven.intel.anonymisers import HOSTING_RANGE, TOR_EXIT, AnonymiserIndex, Hit
from haven.intel.card_use import HOUSEHOLD_CARD, STOLEN_CARD, CardFlag, card_flags
from haven.intel.countries import cctld_country, postcode_countries, provider_country
from haven.intel.disposable import is_disposable
from haven.intel.store import open_store, require_table

SUBJECTS_NAME = "subjects.jsonl"
META_NAME = "attribution.json"

WEIGHTS = {
    "address": 1.0,
    "phone_cc": 0.9,
    "card": 0.7,
    "ip": 0.6,
    "declared": 0.6,
    "email_provider": 0.5,
    "email_cctld": 0.4,
    "phone_national": 0.3,
}
CLEAR_RATIO = 2.0
SECONDARY_SHARE = 0.2
POSTCODE_BONUS = 0.2
INDICATOR_FACTOR = 0.8
STOLEN_CARD_FACTOR = 0.25
#: Indicators listed for the analyst that lower neither confidence nor evidence.
MILD_INDICATORS = frozenset({HOUSEHOLD_CARD})
#: IP evidence from an anonymising network says little about where the person is.
ANONYMISED_IP_FACTOR = {TOR_EXIT: 0.1, HOSTING_RANGE: 0.25}


@dataclass(frozen=True)
class Evidence:
    kind: str
    country: str
    file: str
    row: int
    value: str
    weight: float


@dataclass(frozen=True)
class Indicator:
    kind: str
    detail: str
    records: tuple[tuple[str, int], ...] = ()


@dataclass
class Attribution:
    subject_id: str
    records: list[dict]
    country: str | None
    confidence: float
    countries: list[str]
    shared: bool
    review: bool
    scores: dict[str, float]
    evidence: list[dict] = field(default_factory=list)
    indicators: list[dict] = field(default_factory=list)


ATTRIBUTION_FIELDS = fields(Attribution)


@dataclass(frozen=True)
class Context:
    """Facts about the whole operation that indicators need."""

    ip_country: Mapping[str, str | None]
    card_flags: Mapping[str, CardFlag]  # record_id → its card's indicator (card_use.py)
    ip_subjects: Mapping[str, int]      # public IP → distinct subjects behind it
    shared_ip_min: int = 3
    anonymised: Mapping[str, Sequence[Hit]] = field(default_factory=dict)  # IP → list hits

    def ip_factor(self, ip: str | None) -> float:
        """How much an IP's registry country counts: 1, or less for anonymising networks."""
        hits = self.anonymised.get(ip or "")
        return min((ANONYMISED_IP_FACTOR[h.kind] for h in hits), default=1.0) if hits else 1.0


def record_evidence(rec: Mapping, ctx: Context) -> list[Evidence]:
    """Every piece of country evidence one normalised record carries."""
    f, r = rec["file"], rec["row"]
    out: list[Evidence] = []

    def add(kind: str, cc: str | None, value: str | None) -> None:
        if cc:
            out.append(Evidence(kind, cc, f, r, value or cc, WEIGHTS[kind]))

    add("address", rec.get("country"), rec.get("country"))
    add("declared", rec.get("declared_country"), rec.get("declared_country"))
    if rec.get("phone_region"):
        add("phone_cc" if rec.get("phone_explicit") else "phone_national", rec["phone_region"],
            rec.get("phone"))
    add("card", rec.get("card_country") or rec.get("iban_country"),
        rec.get("card_country") or rec.get("iban_country"))
    ip = rec.get("ip")
    if ip and not rec.get("ip_nonpublic"):
        cc = ctx.ip_country.get(ip)
        if cc:
            out.append(Evidence("ip", cc, f, r, ip, WEIGHTS["ip"] * ctx.ip_factor(ip)))
    domain = rec.get("email_domain")
    if domain:
        prov = provider_country(domain)
        if prov:
            add("email_provider", prov, domain)
        else:
            add("email_cctld", cctld_country(domain), domain)
    return out


def subject_indicators(records: list[Mapping], evidence: list[Evidence], ctx: Context
                       ) -> list[Indicator]:
    """Fraud and stolen-identity signs in one subject's records."""
    out: list[Indicator] = []
    for rec in records:
        flag = ctx.card_flags.get(rec.get("record_id") or "")
        if flag is not None:
            out.append(Indicator(flag.kind, flag.detail, ((rec["file"], rec["row"]),)))
        domain = rec.get("email_domain")
        if domain and is_disposable(domain):
            out.append(Indicator("disposable_email", f"disposable e-mail domain {domain}",
                                 ((rec["file"], rec["row"]),)))
        ip = rec.get("ip")
        for hit in ctx.anonymised.get(ip or "", ()):
            out.append(Indicator(hit.kind, _hit_detail(ip, hit), ((rec["file"], rec["row"]),)))
        if ip and not rec.get("ip_nonpublic") and ctx.ip_subjects.get(ip, 0) >= ctx.shared_ip_min:
            out.append(Indicator("shared_ip", f"IP {ip} is behind {ctx.ip_subjects[ip]} subjects",
                                 ((rec["file"], rec["row"]),)))
    by_kind: dict[str, set[str]] = defaultdict(set)
    for ev in evidence:
        if ev.kind == "ip" and ev.value in ctx.anonymised:
            continue  # an anonymiser's country disagreeing is expected, not a mismatch
        by_kind[ev.kind].add(ev.country)
    trio = {k: by_kind.get(k, set()) for k in ("ip", "card", "address")}
    named = set().union(*trio.values())
    if len([k for k, v in trio.items() if v]) >= 2 and len(named) >= 2:
        detail = ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in trio.items() if v)
        out.append(Indicator("country_mismatch", f"IP, card and address disagree: {detail}"))
    # One indicator per kind and detail; records merged.
    merged: dict[tuple[str, str], set] = defaultdict(set)
    for ind in out:
        merged[(ind.kind, ind.detail)].update(ind.records)
    return [Indicator(k, d, tuple(sorted(rs))) for (k, d), rs in sorted(merged.items())]


def _hit_detail(ip: str, hit: Hit) -> str:
    if hit.kind == TOR_EXIT:
        return f"IP {ip} is a Tor exit ({hit.file})"
    where = hit.entry if hit.entry != ip else "a listed address"
    name = f" {hit.name}" if hit.name else ""
    return f"IP {ip} is in hosting/VPN range {where}{name} ({hit.file})"


def attribute_subject(subject_id: str, records: list[Mapping], ctx: Context) -> Attribution:
    """Weigh one subject's evidence into a country, a confidence and its conflicts (pure)."""
    evidence = [e for rec in records for e in record_evidence(rec, ctx)]
    indicators = subject_indicators(records, evidence, ctx)
    stolen = {r for ind in indicators if ind.kind == STOLEN_CARD for r in ind.records}
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for ev in evidence:
        factor = STOLEN_CARD_FACTOR if ev.kind == "card" and (ev.file, ev.row) in stolen else 1.0
        if ev.kind == "ip":
            factor = ctx.ip_factor(ev.value)
        by_kind[ev.kind][ev.country] += factor
    scores: Counter = Counter()
    for kind, counts in by_kind.items():
        n = sum(1 for ev in evidence if ev.kind == kind)
        for cc, c in counts.items():
            scores[cc] += WEIGHTS[kind] * c / n
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    tie_broken: str | None = None
    if len(ranked) >= 2 and ranked[0][1] < CLEAR_RATIO * ranked[1][1]:
        # Postcode shape as tie-breaker between the two leading countries only: it decides
        # when the postcode fits exactly one of them.
        leaders = [cc for cc, _ in ranked[:2]]
        for rec in records:
            fits = [cc for cc in leaders if cc in postcode_countries(rec.get("postcode"))]
            if len(fits) == 1:
                tie_broken = fits[0]
                scores[tie_broken] += POSTCODE_BONUS
                evidence.append(Evidence("postcode", tie_broken, rec["file"], rec["row"],
                                         rec["postcode"], POSTCODE_BONUS))
                break
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(scores.values())
    country: str | None = None
    review = False
    confidence = 0.0
    if ranked:
        top, s1 = ranked[0]
        s2 = ranked[1][1] if len(ranked) > 1 else 0.0
        if s2 == 0 or s1 >= CLEAR_RATIO * s2 or tie_broken == top:
            country = top
            confidence = (s1 / total) * min(1.0, 0.4 + total / 2.5)
            confidence *= INDICATOR_FACTOR ** len({i.kind for i in indicators
                                                   if i.kind not in MILD_INDICATORS})
        else:
            review = True
    countries = [cc for cc, s in ranked if total and s / total >= SECONDARY_SHARE]
    if country and country not in countries:
        countries.insert(0, country)
    shared = len(countries) > 1
    ev_out = [
        {**asdict(e), "weight": round(e.weight, 3),
         "stance": "for" if country and e.country == country else
                   ("split" if country is None else "against")}
        for e in sorted(evidence, key=lambda e: (e.file, e.row, e.kind, e.country))
    ]
    return Attribution(
        subject_id=subject_id,
        records=[{"file": r["file"], "row": r["row"]}
                 for r in sorted(records, key=lambda r: (r["file"], r["row"]))],
        country=country,
        confidence=round(confidence, 3),
        countries=countries,
        shared=shared,
        review=review,
        scores={cc: round(s, 3) for cc, s in ranked},
        evidence=ev_out,
        indicators=[{"kind": i.kind, "detail": i.detail,
                     "records": [{"file": f, "row": r} for f, r in i.records]}
                    for i in indicators],
    )


def build_context(records: Iterable[Mapping], subject_of: Mapping[str, str],
                  shared_ip_min: int = 3, anonymisers: AnonymiserIndex | None = None) -> Context:
    """IP countries (one batched iptocc lookup), anonymiser hits and the list-wide counts."""
    import iptocc

    recs = list(records)
    # Every valid address is checked, public or not: the lists are the analyst's authority.
    anonymised = (anonymisers.lookup(sorted({r["ip"] for r in recs if r.get("ip")}))
                  if anonymisers is not None and anonymisers.sources else {})
    ips = sorted({r["ip"] for r in recs if r.get("ip") and not r.get("ip_nonpublic")})
    ip_country = dict(zip(ips, iptocc.country_code(ips))) if ips else {}
    ip_subj: dict[str, set] = defaultdict(set)
    for r in recs:
        if r.get("ip") and not r.get("ip_nonpublic"):
            ip_subj[r["ip"]].add(subject_of[r["record_id"]])
    flags = card_flags({**r, "subject_id": subject_of[r["record_id"]]}
                       for r in recs if r.get("card"))
    return Context(ip_country, flags, {ip: len(s) for ip, s in ip_subj.items()},
                   shared_ip_min, anonymised)


def iptocc_provenance() -> dict:
    """What the IP evidence came from; iptocc exposes no data date, its version names it."""
    try:
        v = version("iptocc")
    except PackageNotFoundError:  # pragma: no cover
        v = None
    return {"package": "iptocc", "version": v,
            "source": "RIR delegation files (registry country, not location)",
            "database_date": None,
            "note": "iptocc rebuilds its data nightly and does not expose the date; the "
                    "package version identifies the snapshot"}


def attribute_operation(op_dir: Path, on_progress: Callable[[int, int], None] | None = None,
                        anonymisers: AnonymiserIndex | None = None) -> dict:
    """Attribute every subject of a resolved operation; writes subjects.jsonl.

    `anonymisers` holds the offline Tor exit and hosting-range lists; each list's file name,
    SHA-256 and line count go into attribution.json (and from there into every package).
    """
    con = open_store(op_dir)
    try:
        require_table(con, "subject_records", "resolve", op_dir)
        rel = con.sql("SELECT n.*, s.subject_id FROM normalised n JOIN subject_records s "
                      "USING (record_id) ORDER BY s.subject_id, n.file, n.row")
        cols = rel.columns
        recs = [dict(zip(cols, row)) for row in rel.fetchall()]
        links = con.sql("SELECT record_id_l, record_id_r, match_weight, why FROM links "
                        "WHERE same_subject ORDER BY subject_id, match_weight DESC, "
                        "record_id_l, record_id_r").fetchall()
    finally:
        con.close()
    subject_of = {r["record_id"]: r["subject_id"] for r in recs}
    ref = {r["record_id"]: {"file": r["file"], "row": r["row"]} for r in recs}
    ctx = build_context(recs, subject_of, anonymisers=anonymisers)
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        by_subject[r["subject_id"]].append(r)
    links_of: dict[str, list[dict]] = defaultdict(list)
    for l, r, w, why in links:
        links_of[subject_of[l]].append({"a": ref[l], "b": ref[r], "match_weight": w,
                                        "why": json.loads(why) if why else {}})
    counts: Counter = Counter()
    out_path = op_dir / SUBJECTS_NAME
    tmp = out_path.with_suffix(".jsonl.tmp")
    total = len(by_subject)
    with tmp.open("w", encoding="utf-8") as fh:
        for n, (sid, members) in enumerate(sorted(by_subject.items()), start=1):
            att = attribute_subject(sid, members, ctx)
            # fields are plain lists/dicts already: a shallow copy, not asdict's deep one
            # (asdict was half of this step's time at 400k rows)
            obj = {f.name: getattr(att, f.name) for f in ATTRIBUTION_FIELDS}
            obj["names"] = sorted({m["full_name"] for m in members if m.get("full_name")})
            obj["links"] = links_of.get(sid, [])
            fh.write(json.dumps(obj, ensure_ascii=False, sort_keys=False) + "\n")
            counts["subjects"] += 1
            counts["review"] += att.review
            counts["shared"] += att.shared
            counts["attributed"] += att.country is not None
            counts["with_indicators"] += bool(att.indicators)
            for kind in {i["kind"] for i in att.indicators} & {TOR_EXIT, HOSTING_RANGE}:
                counts[f"with_{kind}"] += 1
            if on_progress and (n % 2000 == 0 or n == total):
                on_progress(n, total)
    tmp.replace(out_path)
    sources = anonymisers.sources if anonymisers is not None else []
    counts["anonymised_ips"] = len(ctx.anonymised)
    meta = {"ip_database": iptocc_provenance(), "weights": WEIGHTS, "clear_ratio": CLEAR_RATIO,
            "secondary_share": SECONDARY_SHARE, "counts": dict(counts),
            "anonymiser_lists": [
                {"kind": src.kind, "file": src.file, "sha256": src.sha256, "format": src.format,
                 "lines": src.lines, "entries": src.entries, "bad_lines": src.bad_lines}
                for src in sources],
            "anonymised_ip_factor": ANONYMISED_IP_FACTOR}
    (op_dir / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n",
                                    encoding="utf-8")
    return meta
