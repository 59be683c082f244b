"""Who uses each card: the stolen-card and household-card indicators (pure).

A card (a payment identity key, haven.intel.payment) seen on several subjects is examined
record by record:

1. **One card or several?** Records with the same key but different PAN HMACs or different
   expiry dates are different cards (a BIN + last 4 can be shared by unrelated cards of one
   issuer). Records that lack both fit any of them.
2. **People.** Records are one person when the resolver put them in one subject, when their
   names are variants of each other (initial vs full given name, a typo, transliteration,
   given name and surname swapped, one of two surnames), or when they share an e-mail, phone,
   username, national id or date of birth and their names do not clash. Records without any
   name are not counted as people of their own.
3. **Households.** People with the same surname who share an address (street, or postcode)
   or an e-mail or phone are one household.

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

STOLEN_CARD = "stolen_card"
HOUSEHOLD_CARD = "household_card"
#: Households a card needs to be flagged stolen, by how exactly the card is known.
MIN_HOUSEHOLDS_EXACT = 2
MIN_HOUSEHOLDS_PARTIAL = 3
_PARTIAL_KINDS = frozenset({"bin_last4", "first4_last4", "pan"})
_IDENTIFIERS = ("email", "phone", "username", "national_id", "dob")


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
    parent = list(range(len(sigs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (h1, e1) in enumerate(sigs):
        for j in range(i + 1, len(sigs)):
            h2, e2 = sigs[j]
            if (h1 and h2 and h1 != h2) or (e1 and e2 and e1 != e2):
                continue
            if (h1 and h1 == h2) or (e1 and e1 == e2):
                parent[find(i)] = find(j)
    groups: dict[int, list[Mapping]] = defaultdict(list)
    index = {s: i for i, s in enumerate(sigs)}
    for r in recs:
        sig = (r.get("card_hmac"), r.get("card_expiry"))
        if sig == (None, None):
            for root in {find(i) for i in range(len(sigs))}:
                groups[root].append(r)      # fits every card of this key
        else:
            groups[find(index[sig])].append(r)
    return list(groups.values())


def _judge(recs: list[Mapping]) -> CardFlag | None:
    named = [r for r in recs if r.get("first_f") or r.get("last_f") or r.get("full_f")]
    if len({r["subject_id"] for r in named}) < 2:
        return None
    person = _Union(len(named))
    by_subject: dict[str, int] = {}
    for i, r in enumerate(named):
        if r["subject_id"] in by_subject:
            person.join(i, by_subject[r["subject_id"]])
        else:
            by_subject[r["subject_id"]] = i
    for i in range(len(named)):
        for j in range(i + 1, len(named)):
            if person.find(i) != person.find(j) and same_person(named[i], named[j]):
                person.join(i, j)
    people = sorted({person.find(i) for i in range(len(named))})
    if len(people) < 2:
        return None
    house = _Union(len(named))
    for i in range(len(named)):
        house.join(i, person.find(i))
    for i in range(len(named)):
        for j in range(i + 1, len(named)):
            if house.find(i) != house.find(j) and same_household(named[i], named[j]):
                house.join(i, j)
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


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


# --- names and households --------------------------------------------------------------


def _alike(a: str, b: str, threshold: float = 0.88) -> bool:
    if a == b:
        return True
    if a.replace(" ", "") == b.replace(" ", ""):
        return True
    return jellyfish.jaro_winkler_similarity(a, b) >= threshold


def _given_alike(a: str, b: str) -> bool:
    """Given names of one person: equal, an initial, a shortening, a typo."""
    a, b = a.strip("."), b.strip(".")
    if not a or not b:
        return False
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    if len(a) >= 3 and len(b) >= 3 and (a.startswith(b) or b.startswith(a)):
        return True
    return _alike(a, b, 0.85)


def _surname_alike(a: str, b: str) -> bool:
    """Surnames of one family: alike, or one of two surnames (García López / García)."""
    if _alike(a, b):
        return True
    ta, tb = set(a.split()), set(b.split())
    return bool(ta & tb) and (ta <= tb or tb <= ta)


def _names(r: Mapping) -> tuple[str | None, str | None, str | None]:
    return r.get("first_f"), r.get("last_f"), r.get("full_f")


def names_alike(a: Mapping, b: Mapping) -> bool:
    """Two records' names are one person's: variants, typos, transliteration, swapped."""
    fa, la, full_a = _names(a)
    fb, lb, full_b = _names(b)
    if full_a and full_b and _alike(full_a, full_b, 0.92):
        return True
    if fa and la and fb and lb:
        if _surname_alike(la, lb) and _given_alike(fa, fb):
            return True
        if _surname_alike(la, fb) and _given_alike(fa, lb):   # given name and surname swapped
            return True
        return False
    # One side is a single word: it must be one of the other's names.
    one = (fa or la) if not (fa and la) else None
    other = [n for n in (fb, lb) if n]
    if one is None:
        one = (fb or lb) if not (fb and lb) else None
        other = [n for n in (fa, la) if n]
    return bool(one) and any(_alike(one, n) for n in other)


def _shared_identifier(a: Mapping, b: Mapping) -> bool:
    return any(a.get(k) and a.get(k) == b.get(k) for k in _IDENTIFIERS)


def _given_clash(a: Mapping, b: Mapping) -> bool:
    fa, fb = a.get("first_f"), b.get("first_f")
    return bool(fa and fb and a.get("last_f") and b.get("last_f") and not _given_alike(fa, fb))


def same_person(a: Mapping, b: Mapping) -> bool:
    """Records of one person for the card question (names alike, or an identifier shared
    with no clash of given names)."""
    if names_alike(a, b):
        return True
    return _shared_identifier(a, b) and not _given_clash(a, b)


def _same_address(a: Mapping, b: Mapping) -> bool:
    sa, sb = a.get("street_f"), b.get("street_f")
    if sa and sb:
        return _alike(sa, sb, 0.9)
    pa, pb = a.get("postcode"), b.get("postcode")
    return bool(pa and pa == pb)


def same_household(a: Mapping, b: Mapping) -> bool:
    """Same surname, and a shared address, e-mail or phone."""
    la, lb = a.get("last_f"), b.get("last_f")
    if not (la and lb and _surname_alike(la, lb)):
        return False
    return _same_address(a, b) or any(a.get(k) and a.get(k) == b.get(k)
                                      for k in ("email", "phone"))
