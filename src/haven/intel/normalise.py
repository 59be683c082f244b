"""Normalising record fields: names, e-mails, phones, IPs, countries. Pure functions only."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

import phonenumbers
from anyascii import anyascii
from jellyfish import jaro_winkler_similarity

from haven.intel.countries import country_code

_WS = re.compile(r"\s+")
_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "mx", "herr", "frau", "m", "mme", "mlle",
    "sr", "sra", "srta", "sig", "dott", "ing", "jr", "sr.", "ii", "iii", "iv", "phd", "md",
    "dds", "dvm", "esq", "hr", "fr", "pan", "pani", "dipl", "mag", "bsc", "msc",
})
# Providers that ignore dots in the local part and map a second domain onto the first.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Providers whose sub-addressing uses "-" instead of "+".
_DASH_TAG = frozenset({"yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_name(text: str | None) -> str | None:
    """Unicode NFKC, case-folded, single spaces; accents kept."""
    if not text:
        return None
    out = _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip(" ,.;")
    return out or None


def fold_name(text: str | None) -> str | None:
    """The accent-free, Latin-script form of a cleaned name (José → jose, Иван → ivan)."""
    if not text:
        return None
    ascii_text = anyascii(text).casefold()
    ascii_text = re.sub(r"[^a-z0-9 '\-]", " ", ascii_text)
    ascii_text = re.sub(r"['\-]", "", ascii_text)
    out = _WS.sub(" ", ascii_text).strip()
    return out or None


@dataclass(frozen=True)
class NameParts:
    full: str | None
    first: str | None
    last: str | None
    full_folded: str | None
    first_folded: str | None
    last_folded: str | None
    #: folded surname tokens ("García-López" → garcia, lopez): one of a double surname matches
    surname_tokens: tuple[str, ...] = ()


def name_parts(full: str | None, first: str | None, last: str | None) -> NameParts:
    """Split and clean a name; titles and suffixes dropped; first/last taken from full if absent.

    A full name is read as "Given … Surname", "Surname, Given …", or "SURNAME Given …" (the
    surname in capitals before mixed-case given names, as many registers write it). A
    one-letter title ("M." for Monsieur) is kept when it is all there is beside the surname:
    then it is an initial ("M. Dupont").
    """
    first_c, last_c = clean_name(first), clean_name(last)
    full_c = clean_name(full)
    surname = last_c
    if full_c and not (first_c and last_c):
        raw = _WS.sub(" ", unicodedata.normalize("NFKC", full or "")).strip(" ,.;")
        if "," in full_c:  # "Surname, Given"
            a, _, b = full_c.partition(",")
            given, family = _untitled(b.split()), _untitled(a.split())
        else:
            words = raw.split()
            caps = 0
            while caps < len(words) - 1 and _is_caps(words[caps]):
                caps += 1
            if 0 < caps < len(words) and not all(_is_caps(w) for w in words):
                tokens = full_c.split()
                family, given = _untitled(tokens[:caps]), _untitled(tokens[caps:])
            else:
                tokens = _untitled(full_c.split())
                given, family = tokens[:1], tokens[1:]
        if not given and family:
            given, family = family[:1], family[1:]
        full_c = " ".join(given + family) or full_c
        first_c = first_c or (given[0] if given else None)
        if not last_c and family:
            last_c = family[-1]
            surname = " ".join(family)
    if not full_c and (first_c or last_c):
        full_c = " ".join(p for p in (first_c, last_c) if p)
    return NameParts(full_c, first_c, last_c, fold_name(full_c), fold_name(first_c),
                     fold_name(last_c), surname_tokens(surname))


def _is_caps(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) > 1 and all(c.isupper() for c in letters)


def _untitled(tokens: list[str]) -> list[str]:
    """Tokens without titles; a one-letter "title" stays when only one other token is left."""
    kept = [t for t in tokens if t.strip(".") not in _TITLES]
    if len(kept) < 2:
        kept = [t for t in tokens if t.strip(".") not in _TITLES or len(t.strip(".")) == 1]
    return kept or tokens


def surname_tokens(surname: str | None) -> tuple[str, ...]:
    """Folded parts of a surname, hyphens and spaces both separating (double surnames)."""
    if not surname:
        return ()
    parts = (fold_name(t) for t in re.split(r"[\s\-]+", surname))
    return tuple(sorted({p for p in parts if p and len(p) > 1}))


@lru_cache(maxsize=1)
def _nicknamer():  # type: ignore[no-untyped-def]
    from nicknames import NickNamer

    return NickNamer()


@lru_cache(maxsize=65536)
def given_name_aliases(first: str | None) -> tuple[str, ...]:
    """A folded given name and the formal names it is a nickname of (bill → william, robert …).

    From the `nicknames` package (a hand-curated English table); two given names that share
    an alias may be one person's (Bill / William, Will / Bill).
    """
    if not first:
        return ()
    return tuple(sorted({first, *_nicknamer().canonicals_of(first)}))


def given_names_compatible(a: str | None, b: str | None) -> bool:
    """Could these two folded given names be one person's? (pure, symmetric)

    Yes when equal, when one is the other's initial ("p" / "patrick"), a nickname of it
    (shared alias), a prefix of at least 2 letters ("mo" / "moses"), or alike (Jaro-Winkler
    ≥ 0.8, the model's lowest name level, or difflib ratio ≥ 0.8 for transposed letters).
    """
    if not a or not b:
        return True
    if a == b:
        return True
    x, y = a.replace(" ", ""), b.replace(" ", "")
    if len(x) == 1 or len(y) == 1:
        return x[0] == y[0]
    if x.startswith(y) or y.startswith(x):
        return True
    if set(given_name_aliases(a)) & set(given_name_aliases(b)):
        return True
    return (jaro_winkler_similarity(x, y) >= 0.8
            or SequenceMatcher(None, x, y).ratio() >= 0.8)


def normalise_email(text: str | None) -> str | None:
    """Lower case, sub-address tag removed, gmail/googlemail dots removed; None when invalid."""
    if not text:
        return None
    value = unicodedata.normalize("NFKC", text).strip().strip("<>").lower()
    if value.startswith("mailto:"):
        value = value[7:]
    if not _EMAIL.match(value):
        return None
    local, _, domain = value.rpartition("@")
    domain = domain.rstrip(".")
    local = local.split("+", 1)[0]
    if domain in _DASH_TAG:
        local = local.split("-", 1)[0]
    if domain in _DOTLESS:
        domain = _DOTLESS[domain]
        local = local.replace(".", "")
    if not local:
        return None
    return f"{local}@{domain}"


def email_domain(email: str | None) -> str | None:
    return email.rpartition("@")[2] if email else None


@dataclass(frozen=True)
class Phone:
    e164: str | None
    region: str | None
    #: True when the number carried its own +CC (strong country evidence); False when a
    #: country hint from the row was needed to read it (then it only confirms the hint).
    explicit_cc: bool
    valid: bool


def normalise_phone(text: str | None, hints: tuple[str | None, ...] = ()) -> Phone | None:
    """E.164 with phonenumbers; `00` becomes `+`; national formats read with the row's hints."""
    if not text:
        return None
    raw = unicodedata.normalize("NFKC", text).strip()
    digits = re.sub(r"[^\d+]", "", raw)
    if not re.search(r"\d{5,}", re.sub(r"\D", "", raw)):
        return Phone(None, None, False, False)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    explicit = digits.startswith("+")
    regions = [None] if explicit else [h for h in dict.fromkeys(hints) if h]
    best: Phone | None = None
    for region in regions:
        try:
            num = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        valid = phonenumbers.is_valid_number(num)
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        cand = Phone(e164, phonenumbers.region_code_for_number(num), explicit, valid)
        if valid:
            return cand
        best = best or cand
    if best:
        return best
    return Phone(None, None, explicit, False)


@dataclass(frozen=True)
class IP:
    address: str | None
    version: int | None
    #: Not a public address: private, loopback, link-local, reserved, multicast, CGNAT …
    non_public: str | None


def normalise_ip(text: str | None) -> IP | None:
    """Validated, compressed IPv4/IPv6 (v4-mapped v6 unwrapped), with a non-public flag."""
    if not text:
        return None
    value = text.strip().strip("[]")
    if "%" in value:
        value = value.split("%", 1)[0]
    if value.count(":") == 1 and "." in value:  # "1.2.3.4:443"
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return IP(None, None, "invalid")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    kind = None
    if any(ip.version == net.version and ip in net for net in _DOCUMENTATION):
        kind = "documentation"
    else:
        for attr in ("is_loopback", "is_link_local", "is_multicast", "is_unspecified",
                     "is_private", "is_reserved"):
            if getattr(ip, attr):
                kind = attr[3:]
                break
    if kind is None and isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        kind = "shared_cgnat"
    if kind is None and not ip.is_global:
        kind = "reserved"
    return IP(str(ip), ip.version, kind)


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
#: RFC 5737 / RFC 3849 example addresses: never a real user; named so, not "private".
_DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def normalise_country(text: str | None) -> str | None:
    """ISO 3166 alpha-2 from a code or a name in one of many languages."""
    return country_code(text)


def normalise_postcode(text: str | None) -> str | None:
    if not text:
        return None
    out = _WS.sub("", unicodedata.normalize("NFKC", text)).upper()
    return out or None


def normalise_username(text: str | None) -> str | None:
    if not text:
        return None
    out = unicodedata.normalize("NFKC", text).strip().casefold()
    return out or None


def normalise_national_id(text: str | None) -> str | None:
    """National identity numbers (SSN, NIN, PESEL …) compared as upper-case letters and digits."""
    if not text:
        return None
    out = re.sub(r"[\W_]", "", unicodedata.normalize("NFKC", text)).upper()
    return out or None


def normalise_card(text: str | None) -> str | None:
    """The comparable key of a payment identity (haven.intel.payment.card_identity)."""
    from haven.intel.payment import card_identity

    ident = card_identity(text)
    return ident.key if ident else None


def iban_country(card: str | None) -> str | None:
    """Country of a valid IBAN (checksum verified), else None."""
    if not card or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", card):
        return None
    moved = card[4:] + card[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return card[:2] if int(number) % 97 == 1 else None


def normalise_date(text: str | None) -> str | None:
    """ISO date from ISO, D.M.Y, D/M/Y or Y/M/D text (M/D/Y is ambiguous and left as it is)."""
    if not text:
        return None
    value = text.strip()
    m = re.match(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value)
    if m:
        y, mo, d = m.groups()
        return f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"
    m = re.match(r"^(\d{4})(\d{2})(\d{2})$", value)   # compact YYYYMMDD
    if m and 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31:
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    m = re.match(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$", value)
    if m:
        d, mo, y = m.groups()
        if int(mo) <= 12:
            return f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"
    return value
