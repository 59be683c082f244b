"""Synthetic customer lists with known truth, for tests and benchmarks. Faker data only.

People get several rows with the noise seized lists have: typos, transliterated names,
national and international phone formats, e-mail case/tags/dots, missing fields, family
members sharing an e-mail and address, and stolen-card rows (a card from another person in
another country). Countries with a Faker locale use it; the others borrow a locale of a
related language (names, streets) but keep their own phones, IPs, e-mail ccTLD and country.

Truth goes to a separate CSV (file, row, person_id, country), never into the list itself.
"""

from __future__ import annotations

import csv
import gettext
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import phonenumbers
import pycountry
from anyascii import anyascii

# Locale → country it represents (Faker's own locales).
_FAKER_LOCALES = {
    "am_ET": "ET", "ar_AE": "AE", "ar_BH": "BH", "ar_DZ": "DZ", "ar_EG": "EG", "ar_JO": "JO",
    "ar_PS": "PS", "ar_SA": "SA", "az_AZ": "AZ", "bg_BG": "BG", "bn_BD": "BD", "bs_BA": "BA",
    "cs_CZ": "CZ", "da_DK": "DK", "de_AT": "AT", "de_CH": "CH", "de_DE": "DE", "de_LI": "LI",
    "de_LU": "LU", "el_CY": "CY", "el_GR": "GR", "en_AU": "AU", "en_CA": "CA", "en_GB": "GB",
    "en_IE": "IE", "en_IN": "IN", "en_KE": "KE", "en_NG": "NG", "en_NZ": "NZ", "en_PH": "PH",
    "en_PK": "PK", "en_US": "US", "es_AR": "AR", "es_CL": "CL", "es_CO": "CO", "es_ES": "ES",
    "es_MX": "MX", "es_VE": "VE", "et_EE": "EE", "fa_IR": "IR", "fi_FI": "FI", "fr_BE": "BE",
    "fr_FR": "FR", "he_IL": "IL", "hr_HR": "HR", "hu_HU": "HU", "hy_AM": "AM", "id_ID": "ID",
    "is_IS": "IS", "it_IT": "IT", "ja_JP": "JP", "ka_GE": "GE", "ko_KR": "KR", "lt_LT": "LT",
    "lv_LV": "LV", "mk_MK": "MK", "mt_MT": "MT", "ne_NP": "NP", "nl_NL": "NL", "no_NO": "NO",
    "pl_PL": "PL", "pt_BR": "BR", "pt_PT": "PT", "ro_RO": "RO", "ru_RU": "RU", "si_LK": "LK",
    "sk_SK": "SK", "sl_SI": "SI", "sq_AL": "AL", "sv_SE": "SE", "th_TH": "TH", "tr_TR": "TR",
    "tw_GH": "GH", "uk_UA": "UA", "uz_UZ": "UZ", "vi_VN": "VN", "zh_CN": "CN", "zh_TW": "TW",
    "zu_ZA": "ZA",
}
# Countries without a Faker locale, with the locale their names and streets are borrowed from.
_FALLBACK = {
    "es_MX": "PE EC BO PY UY CR PA GT HN SV NI DO CU PR",
    "fr_FR": "SN CI CM ML BF NE TG BJ GA CG CD MG HT MC TN MA",
    "ar_AA": "IQ SY LB KW QA OM YE LY SD",
    "pt_PT": "AO MZ CV",
    "en_GB": "JM TT BB BS GY BZ ZM ZW BW NA UG TZ RW MW SL LR GM MU FJ PG SG MY MT",
    "ru_RU": "BY KZ KG TJ MD",
    "de_DE": "",
    "sr_BA": "RS ME",
    "sw": "",
    "id_ID": "BN",
    "vi_VN": "KH LA",
    "th_TH": "MM",
    "en_IN": "BT MV",
    "zh_CN": "HK MO MN",
    "bn_BD": "",
    "fa_IR": "AF TJ",
    "tr_TR": "TM",
}
# Scripts that appear transliterated in seized lists (a name in Cyrillic in one row, Latin in the next).
_TRANSLITERATE = {"ru_RU", "uk_UA", "bg_BG", "el_GR", "el_CY", "mk_MK", "sr_BA", "ka_GE",
                  "hy_AM", "he_IL", "ar_AA", "ar_EG", "ar_SA", "ar_AE", "ar_JO", "fa_IR",
                  "th_TH", "zh_CN", "zh_TW", "ja_JP", "ko_KR"}
_GLOBAL_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
                "protonmail.com", "googlemail.com")
_COUNTRY_LANGS = ("de", "fr", "es", "it", "pt", "nl", "pl", "ru")


@lru_cache(maxsize=1)
def country_locales() -> dict[str, str]:
    """Every generated country → the Faker locale it uses (130+ countries)."""
    from faker.config import AVAILABLE_LOCALES

    out = {cc: loc for loc, cc in _FAKER_LOCALES.items() if loc in AVAILABLE_LOCALES}
    for loc, ccs in _FALLBACK.items():
        if loc not in AVAILABLE_LOCALES:
            continue
        for cc in ccs.split():
            out.setdefault(cc, loc)
    # Valid phone metadata is required for every generated country.
    supported = phonenumbers.SUPPORTED_REGIONS
    return {cc: loc for cc, loc in sorted(out.items()) if cc in supported}


@lru_cache(maxsize=1)
def _ip_pools() -> dict[str, list[str]]:
    import iptocc

    rng = random.Random(7)
    ips = []
    for _ in range(600_000):
        x = rng.randrange(1 << 24, 224 << 24)
        ips.append(f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}")
    pools: dict[str, list[str]] = {}
    for ip, cc in zip(ips, iptocc.country_code(ips)):
        if cc:
            pools.setdefault(cc, []).append(ip)
    return pools


@lru_cache(maxsize=None)
def _country_name(cc: str, lang: str) -> str:
    c = pycountry.countries.get(alpha_2=cc)
    if c is None:
        return cc
    if lang == "en":
        return getattr(c, "common_name", None) or c.name
    try:
        tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
    except OSError:
        return c.name
    return tr.gettext(c.name)


@dataclass
class Person:
    person_id: str
    country: str
    locale: str
    first: str
    last: str
    email: str
    phone: str
    street: str
    city: str
    postcode: str
    dob: str
    card: str
    ips: list[str] = field(default_factory=list)


@dataclass
class SynthList:
    rows: list[dict]
    truth: list[dict]   # {row, person_id, country}


HEADERS = ["Customer Name", "E-mail", "Phone", "Date of birth", "Street", "City", "Postcode",
           "Country", "IP", "Card number", "Card country", "Order date"]


def _faker(locale: str, seed: int):  # type: ignore[no-untyped-def]
    from faker import Faker

    f = Faker(locale)
    f.seed_instance(seed)
    return f


def _phone_number(cc: str, rng: random.Random) -> str:
    ex = phonenumbers.example_number_for_type(cc, phonenumbers.PhoneNumberType.MOBILE) \
        or phonenumbers.example_number(cc)
    if ex is None:
        return ""
    nsn = str(ex.national_number)
    for _ in range(20):
        keep = max(2, len(nsn) - 6)
        cand = nsn[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(nsn) - keep))
        num = phonenumbers.parse(f"+{ex.country_code}{cand}")
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164)


def _phone_variant(e164: str, rng: random.Random) -> str:
    if not e164:
        return ""
    num = phonenumbers.parse(e164)
    r = rng.random()
    if r < 0.35:
        return e164
    if r < 0.6:
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if r < 0.75:
        return "00" + e164[1:]
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    op = rng.random()
    if op < 0.33:
        return text[:i] + text[i + 1:]
    if op < 0.66:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + rng.choice("aeiourstnl") + text[i + 1:]


def _email_for(first: str, last: str, cc: str, rng: random.Random) -> str:
    local_first = anyascii(first).lower().replace(" ", "").replace("'", "")
    local_last = anyascii(last).lower().replace(" ", "").replace("'", "")
    local = rng.choice([f"{local_first}.{local_last}", f"{local_first}{local_last}",
                        f"{local_first[:1]}{local_last}", f"{local_last}.{local_first}"])
    local = "".join(ch for ch in local if ch.isalnum() or ch == ".") or "user"
    local += str(rng.randrange(10, 9999))
    r = rng.random()
    if r < 0.6:
        domain = rng.choice(_GLOBAL_MAIL)
    elif r < 0.85:
        domain = f"mail.{cc.lower()}" if cc not in ("GB",) else "mail.co.uk"
    else:
        domain = f"post.{cc.lower()}"
    return f"{local}@{domain}"


def _email_variant(email: str, rng: random.Random) -> str:
    local, _, domain = email.partition("@")
    r = rng.random()
    if r < 0.1:
        return email.upper()
    if r < 0.18:
        return f"{local}+shop@{domain}"
    if r < 0.25 and domain in ("gmail.com", "googlemail.com"):
        return f"{local[:2]}.{local[2:]}@{rng.choice(('gmail.com', 'googlemail.com'))}"
    return email


def _country_variant(cc: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return cc
    if r < 0.7:
        return _country_name(cc, "en")
    if r < 0.8:
        c = pycountry.countries.get(alpha_2=cc)
        return c.alpha_3 if c else cc
    return _country_name(cc, rng.choice(_COUNTRY_LANGS))


def _make_person(pid: int, cc: str, locale: str, rng: random.Random) -> Person:
    fk = _faker(locale, rng.randrange(1 << 30))
    first, last = fk.first_name(), fk.last_name()
    try:
        street = fk.street_address()
    except AttributeError:
        street = fk.address().splitlines()[0]
    try:
        city = fk.city()
    except AttributeError:
        city = ""
    try:
        postcode = fk.postcode()
    except AttributeError:
        postcode = ""
    pool = _ip_pools().get(cc) or []
    return Person(
        person_id=f"P{pid:07d}",
        country=cc,
        locale=locale,
        first=first,
        last=last,
        email=_email_for(first, last, cc, rng),
        phone=_phone_number(cc, rng),
        street=street.replace("\n", ", "),
        city=city,
        postcode=str(postcode),
        dob=f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        card=_luhn_fixed("4" + "".join(str(rng.randrange(10)) for _ in range(15))),
        ips=[rng.choice(pool) for _ in range(2)] if pool else [],
    )


def _luhn_fixed(digits: str) -> str:
    """The number with its last digit replaced by the Luhn check digit (a valid-looking PAN;
    the random stream is the same as before, so every other value of a seed is unchanged)."""
    body = digits[:-1]
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def generate(n_rows: int, seed: int = 1, countries: list[str] | None = None) -> SynthList:
    """A customer list of about `n_rows` rows with truth, deterministic for a seed."""
    rng = random.Random(seed)
    locs = country_locales()
    ccs = countries or list(locs)
    # A few big markets dominate real lists; every country still gets people.
    weights = [6 if cc in ("US", "GB", "DE", "FR", "BR", "IN", "RU", "ES", "IT", "MX") else 1
               for cc in ccs]
    people: list[Person] = []
    rows: list[dict] = []
    truth: list[dict] = []
    pid = 0
    while len(rows) < n_rows:
        cc = rng.choices(ccs, weights)[0]
        person = _make_person(pid, cc, locs.get(cc, "en_US"), rng)
        pid += 1
        family = None
        if people and rng.random() < 0.05:
            # A family member: same surname, address and (often) e-mail, own first name.
            rel = people[-1]
            fk = _faker(rel.locale, rng.randrange(1 << 30))
            family = Person(f"P{pid:07d}", rel.country, rel.locale, fk.first_name(), rel.last,
                            rel.email if rng.random() < 0.7 else person.email,
                            person.phone if rng.random() < 0.5 else rel.phone,
                            rel.street, rel.city, rel.postcode, person.dob, person.card,
                            rel.ips[:1] + person.ips[:1])
            pid += 1
        for p in (person, family) if family else (person,):
            people.append(p)
            n = min(1 + int(rng.expovariate(0.9)), 8)
            for _ in range(n):
                rows.append(_row(p, people, rng))
                truth.append({"row": len(rows), "person_id": p.person_id, "country": p.country})
    return SynthList(rows[:n_rows], truth[:n_rows])


def _row(p: Person, people: list[Person], rng: random.Random) -> dict:
    first, last = p.first, p.last
    if p.locale in _TRANSLITERATE and rng.random() < 0.4:
        first, last = anyascii(first), anyascii(last)
    if rng.random() < 0.12:
        if rng.random() < 0.5:
            first = _typo(first, rng)
        else:
            last = _typo(last, rng)
    name = f"{last}, {first}" if rng.random() < 0.1 else f"{first} {last}"
    if rng.random() < 0.1:
        name = name.upper()
    card, card_country = p.card, p.country
    if len(people) > 20 and rng.random() < 0.02:
        # Stolen card: another person's card, often from another country.
        victim = people[rng.randrange(len(people) - 1)]
        card, card_country = victim.card, victim.country

    def maybe(value: str, p_missing: float) -> str:
        return "" if rng.random() < p_missing else value

    ip = rng.choice(p.ips) if p.ips else ""
    return {
        "Customer Name": name,
        "E-mail": maybe(_email_variant(p.email, rng), 0.08),
        "Phone": maybe(_phone_variant(p.phone, rng), 0.15),
        "Date of birth": maybe(p.dob, 0.3),
        "Street": maybe(p.street, 0.2),
        "City": maybe(p.city, 0.15),
        "Postcode": maybe(p.postcode, 0.2),
        "Country": maybe(_country_variant(p.country, rng), 0.1),
        "IP": maybe(ip, 0.15),
        "Card number": maybe(card, 0.3),
        "Card country": maybe(card_country, 0.4) if card else "",
        "Order date": f"2023-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
    }


def write_list(synth: SynthList, out: Path, truth_out: Path) -> None:
    """Write the list as CSV and the truth beside it (file, row, person_id, country)."""
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADERS)
        w.writeheader()
        w.writerows(synth.rows)
    with truth_out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "row", "person_id", "country"])
        for t in synth.truth:
            w.writerow([out.name, t["row"], t["person_id"], t["country"]])
