"""Who uses each card: the stolen-card and household-card indicators (pure).

A card (a payment identity key, haven.intel.payment) seen on several subjects is examined
record by record:

1. **One card or several?** Records with the same key but different PAN HMACs or different
   expiry dates are different cards (a BIN + last 4 can be shared by unrelated cards of one
   issuer). Records that lack both fit any of them.
2. **People.** Records are one person when the resolver put them in one subject, when their
   names are variants of each other (compared as sets of folded name words, in any order:
   every word of the shorter name matches a different word of the longer one — an initial,
   a shortening, a typo or transliteration at Jaro-Winkler ≥ 0.85, one of two surnames,
   `Casa Grande` / `Casa-Grande`), or when they share a username or national id. A shared
   e-mail, phone or address alone does not make one person: a household shares those.
   Records without any name are not counted as people of their own.
3. **Households.** People whose names share a word (the surname, whichever order the list
   writes names in) and who share an address (street; postcode when a street is missing;
   the town when one side has neither), an e-mail, a phone or a public IP are one household.

A card whose people fall into two or more households is a `stolen_card` (named masked, with
the number of people). Cards known only by BIN + last 4 (no PAN HMAC, tokens or expiry on
every record) need three households: unrelated cards of one big issuer share a BIN and last 4
more often than one would think. A card shared only inside one household is a
`household_card`, a milder indicator that lowers neither confidence nor the card's evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jellyfish

from haven.disjoint import DisjointSets

STOLEN_CARD = "stolen_card"
HOUSEHOLD_CARD = "household_card"
#: Households a card needs to be flagged stolen, by how exactly the card is known.
MIN_HOUSEHOLDS_EXACT = 2
MIN_HOUSEHOLDS_PARTIAL = 3
#: Records of one card beyond which names are not compared pair by pair.
MAX_PAIRWISE = 300
_PARTIAL_KINDS = frozenset({"bin_last4", "first4_last4", "pan"})


@dataclass(frozen=True)
class CardFlag:
    """The indicator one record gets for its card."""

    kind: str
    detail: str
    card: str        # masked
    people: int


def card_flags(records: Iterable[Mapping]) -> dict[str, CardFlag]:
    """record_id → the card indicator its card earns; records whose card is fine are absent.

    Records are normalised records (resolve) with their `subject_id`.
    """
    by_key: dict[str, list[Mapping]] = defaultdict(list)
    for r in records:
        if r.get("card"):
            by_key[r["card"]].append(r)
    out: dict[str, CardFlag] = {}
    for recs in by_key.values():
        if len({r["subject_id"] for r in recs}) < 2:
            continue   # one subject: the resolver already says one person uses it
        for card in _split_cards(recs):
            flag = _judge(card)
            if flag is None:
                continue
            for r in card:
                old = out.get(r["record_id"])
                if old is None or (old.kind == HOUSEHOLD_CARD and flag.kind == STOLEN_CARD):
                    out[r["record_id"]] = flag
    return out


def _split_cards(recs: list[Mapping]) -> list[list[Mapping]]:
    """Records of one key → one list per distinct card (PAN HMAC / expiry disagreeing)."""
    sigs = sorted({(r.get("card_hmac"), r.get("card_expiry")) for r in recs} - {(None, None)},
                  key=lambda s: (s[0] or "", s[1] or ""))
    if len({h for h, _ in sigs if h}) <= 1 and len({e for _, e in sigs if e}) <= 1:
        return [recs]
    # Signatures that do not contradict each other are one card: union them.
    cards = DisjointSets(range(len(sigs)))
    find = cards.find

    for i, (h1, e1) in enumerate(sigs):
        for j in range(i + 1, len(sigs)):
            h2, e2 = sigs[j]
            if (h1 and h2 and h1 != h2) or (e1 and e2 and e1 != e2):
                continue
            if (h1 and h1 == h2) or (e1 and e1 == e2):
                cards.union(i, j)
    groups: dict[int, list[Mapping]] = defaultdict(list)
    index = {s: i for i, s in enumerate(sigs)}
    for r in recs:
        sig = (r.get("card_hmac"), r.get("card_expiry"))
        if sig == (None, None):
            for root in sorted({find(i) for i in range(len(sigs))}):
                groups[root].append(r)      # fits every card of this key
        else:
            groups[find(index[sig])].append(r)
    return list(groups.values())


def _judge(recs: list[Mapping]) -> CardFlag | None:
    named = [r for r in recs if r.get("first_f") or r.get("last_f") or r.get("full_f")]
    if len({r["subject_id"] for r in named}) < 2:
        return None
    person = DisjointSets(range(len(named)))
    by_subject: dict[str, int] = {}
    for i, r in enumerate(named):
        if r["subject_id"] in by_subject:
            person.union(i, by_subject[r["subject_id"]])
        else:
            by_subject[r["subject_id"]] = i
    if len(named) > MAX_PAIRWISE:
        # A card on hundreds of subjects (a test number, a placeholder token): comparing every
        # pair would take minutes; identical folded names stand in for name variants.
        by_name: dict[str, int] = {}
        for i, r in enumerate(named):
            key = " ".join(sorted(_tokens(r)))
            person.union(i, by_name.setdefault(key, i))
    else:
        for i in range(len(named)):
            for j in range(i + 1, len(named)):
                if person.find(i) != person.find(j) and same_person(named[i], named[j]):
                    person.union(i, j)
    people = sorted({person.find(i) for i in range(len(named))})
    if len(people) < 2:
        return None
    house = DisjointSets(range(len(named)))
    for i in range(len(named)):
        house.union(i, person.find(i))
    if len(named) <= MAX_PAIRWISE:
        for i in range(len(named)):
            for j in range(i + 1, len(named)):
                if house.find(i) != house.find(j) and same_household(named[i], named[j]):
                    house.union(i, j)
    households = len({house.find(i) for i in range(len(named))})
    masked = _shown(recs)
    exact = all(r.get("card_kind") not in _PARTIAL_KINDS or r.get("card_hmac")
                for r in recs) or (len({r.get("card_expiry") for r in recs}) == 1
                                   and recs[0].get("card_expiry"))
    need = MIN_HOUSEHOLDS_EXACT if exact else MIN_HOUSEHOLDS_PARTIAL
    if households >= need:
        return CardFlag(STOLEN_CARD, f"card {masked} used by {len(people)} different people",
                        masked, len(people))
    if households == 1:
        return CardFlag(HOUSEHOLD_CARD,
                        f"card {masked} shared by {len(people)} people of one household "
                        "(same surname and address)", masked, len(people))
    return None


def _shown(recs: list[Mapping]) -> str:
    # The most telling masked form: a BIN-and-last-4 one over a last-4-only one.
    forms = sorted({r.get("card_masked") or r["card"] for r in recs},
                   key=lambda m: (-sum(c.isdigit() for c in m), m))
    return forms[0]


# --- names and households --------------------------------------------------------------
# Names are compared as sets of folded tokens, not as given name / surname: lists write
# "SMITH Patrick", "Smith, Patrick", "P. Smith" and "Patrick Smith", and which token is the
# surname is not always known.

_PERSONAL = ("username", "national_id")


def _alike(a: str, b: str, threshold: float = 0.88) -> bool:
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return True
    return jellyfish.jaro_winkler_similarity(a, b) >= threshold


def _tokens(r: Mapping) -> list[str]:
    full = r.get("full_f") or " ".join(t for t in (r.get("first_f"), r.get("last_f")) if t)
    return [t for t in full.replace(".", " ").split() if t]


def _token_match(short: str, long: str) -> bool:
    """One name token of one record against one of another: equal, an initial, a shortening
    (Pat/Patrick), a typo or transliteration (Jaro-Winkler ≥ 0.85)."""
    if short == long:
        return True
    if len(short) == 1 or len(long) == 1:
        return short[0] == long[0]
    if min(len(short), len(long)) >= 3 and (long.startswith(short) or short.startswith(long)):
        return True
    return min(len(short), len(long)) >= 3 and jellyfish.jaro_winkler_similarity(short, long) >= 0.85


def _with_joins(tokens: list[str]) -> list[str]:
    # "Casa Grande" and "Casa-Grande" (folded to "casagrande") are one surname
    return tokens + [a + b for a, b in zip(tokens, tokens[1:])]


def names_alike(a: Mapping, b: Mapping) -> bool:
    """Two records' names are one person's: every token of the shorter name matches a
    different token of the longer one (any order; initials, shortenings, typos,
    transliteration, one of two surnames), and at least one matched token is a word, not an
    initial."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return False
    if _alike(" ".join(ta), " ".join(tb), 0.92):
        return True
    short, long = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    pool = _with_joins(long)
    used: set[int] = set()
    word = False
    for tok in sorted(short, key=len, reverse=True):   # words first, initials last
        hit = next((i for i, cand in enumerate(pool) if i not in used and _token_match(tok, cand)),
                   None)
        if hit is None:
            return False
        used.add(hit)
        word = word or len(tok) > 1
    return word


def _shared(a: Mapping, b: Mapping, keys: tuple[str, ...]) -> bool:
    return any(a.get(k) and a.get(k) == b.get(k) for k in keys)


def same_person(a: Mapping, b: Mapping) -> bool:
    """Records of one person for the card question: names alike, or a personal identifier
    (username, national id) shared. A shared e-mail, phone or address is not enough: a
    household shares those."""
    return names_alike(a, b) or _shared(a, b, _PERSONAL)


def _share_a_surname(a: Mapping, b: Mapping) -> bool:
    ta, tb = _with_joins(_tokens(a)), _with_joins(_tokens(b))
    return any(len(x) >= 3 and len(y) >= 3 and _alike(x, y) for x in ta for y in tb)


def _same_address(a: Mapping, b: Mapping) -> bool:
    sa, sb = a.get("street_f"), b.get("street_f")
    if sa and sb:
        return _alike(sa, sb, 0.9)
    pa, pb = a.get("postcode"), b.get("postcode")
    if pa and pb:
        return pa == pb
    # one side has neither street nor postcode: the town is all there is to compare
    return bool(a.get("city_f") and a.get("city_f") == b.get("city_f"))


def _public_ip(r: Mapping) -> str | None:
    return r.get("ip") if r.get("ip") and not r.get("ip_nonpublic") else None


def same_household(a: Mapping, b: Mapping) -> bool:
    """A name word in common (the surname, in whatever order the list writes names) and a
    shared address, e-mail, phone or public IP."""
    if not _share_a_surname(a, b):
        return False
    if _same_address(a, b) or _shared(a, b, ("email", "phone")):
        return True
    ip = _public_ip(a)
    return bool(ip and ip == _public_ip(b))
