"""A second synthetic customer list with known people, written apart from haven.intel.synth.

    .venv/bin/python bench/listgen2.py --rows 30000 --out /tmp/lg2   # list.csv + people.csv

Its own conventions, on purpose: one "Name" column written many ways ("Patrick Smith",
"P. Smith", "SMITH Patrick", "Smith, Pat", "Smith Patrick"), nicknames from a hand table (Bill/William),
double surnames (García López → "García", "García-López"), non-Latin names written natively
or transliterated by `unidecode` (not the `anyascii` haven folds with), keyboard-distance
typos, phones per country in national / international / dotted / spaced form or with the
trunk zero dropped, e-mail variants (dots, +tags, case, googlemail), usernames with suffix
digits, a second account of one person with another e-mail, households (same surname,
address, IP, card, landline; other first names) and namesakes (same name, same city, not
the same person). Truth (row → person) goes to people.csv. Seeded: the same seed gives the
same files. Faker is used only for names, streets and cities.
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from faker import Faker
from unidecode import unidecode

# country → (Faker locale, e-mail domains, city/postcode style handled by Faker)
COUNTRIES = {
    "AU": ("en_AU", ["bigpond.com", "optusnet.com.au"]),
    "GB": ("en_GB", ["btinternet.com", "sky.com"]),
    "US": ("en_US", ["aol.com", "comcast.net"]),
    "IE": ("en_IE", ["eircom.net"]),
    "DE": ("de_DE", ["web.de", "gmx.de", "t-online.de"]),
    "FR": ("fr_FR", ["orange.fr", "free.fr", "laposte.net"]),
    "ES": ("es_ES", ["telefonica.es", "terra.es"]),
    "IT": ("it_IT", ["libero.it", "virgilio.it"]),
    "PL": ("pl_PL", ["wp.pl", "onet.pl"]),
    "NL": ("nl_NL", ["ziggo.nl", "kpnmail.nl"]),
    "BR": ("pt_BR", ["uol.com.br", "bol.com.br"]),
    "RU": ("ru_RU", ["mail.ru", "yandex.ru"]),
    "UA": ("uk_UA", ["ukr.net", "i.ua"]),
    "GR": ("el_GR", ["otenet.gr"]),
    "BG": ("bg_BG", ["abv.bg"]),
    "SE": ("sv_SE", ["telia.com"]),
}
WEIGHTS = {"AU": 8, "GB": 12, "US": 14, "IE": 3, "DE": 9, "FR": 8, "ES": 7, "IT": 6, "PL": 5,
           "NL": 4, "BR": 5, "RU": 6, "UA": 4, "GR": 3, "BG": 2, "SE": 4}
GLOBAL_MAIL = ["gmail.com", "gmail.com", "gmail.com", "outlook.com", "hotmail.com", "yahoo.com",
               "proton.me"]
# nickname ↔ given name (both directions are written in the lists)
NICKNAMES = {
    "William": ["Bill", "Will", "Billy"], "Robert": ["Bob", "Rob", "Bobby"],
    "Richard": ["Rick", "Dick"], "Elizabeth": ["Liz", "Beth", "Betty"],
    "Margaret": ["Maggie", "Peggy"], "Katherine": ["Kate", "Kathy"], "James": ["Jim", "Jimmy"],
    "Michael": ["Mike", "Mick"], "Thomas": ["Tom", "Tommy"], "Patrick": ["Pat", "Paddy"],
    "Joseph": ["Joe"], "Jennifer": ["Jen", "Jenny"], "Alexander": ["Alex", "Sasha"],
    "Christopher": ["Chris"], "Daniel": ["Dan", "Danny"], "Edward": ["Ed", "Ted"],
    "Anthony": ["Tony"], "Nicholas": ["Nick"], "Samuel": ["Sam"], "Benjamin": ["Ben"],
    "Matthew": ["Matt"], "Jonathan": ["Jon"], "Susan": ["Sue"], "Rebecca": ["Becky"],
    "Victoria": ["Vicky"], "Charles": ["Charlie", "Chuck"], "Andrew": ["Andy", "Drew"],
    "Stephen": ["Steve"], "Steven": ["Steve"], "Timothy": ["Tim"], "Peter": ["Pete"],
    "Francesco": ["Franco"], "Giuseppe": ["Beppe", "Pino"], "Francisco": ["Paco", "Pancho"],
    "José": ["Pepe"], "Johannes": ["Hannes", "Jo"], "Wolfgang": ["Wolf"],
    "Aleksandr": ["Sasha"], "Александр": ["Саша"], "Дмитрий": ["Дима"], "Михаил": ["Миша"],
    "Екатерина": ["Катя"], "Владимир": ["Вова"],
}
# QWERTY neighbours for typos by keyboard distance
_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEAR: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        for _dr in (-1, 1):
            if 0 <= _r + _dr < len(_ROWS):
                other = _ROWS[_r + _dr]
                near += [other[j] for j in (_c - 1, _c, _c + 1) if 0 <= j < len(other)]
        NEAR[_ch] = "".join(near)


@dataclass
class Person:
    pid: str
    cc: str
    first: str
    last: str            # may be a double surname "García López"
    street: str
    city: str
    postcode: str
    mobile: str          # E.164
    emails: list[str]
    username: str
    card: str
    ip: str
    landline: str = ""
    household: str = ""
    extra: dict = field(default_factory=dict)


def keyboard_typo(word: str, rng: random.Random) -> str:
    """One keyboard slip: a neighbouring key, a dropped letter, a doubled or swapped pair."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    ch = word[i]
    if kind < 0.5 and ch.lower() in NEAR:
        sub = rng.choice(NEAR[ch.lower()])
        return word[:i] + (sub.upper() if ch.isupper() else sub) + word[i + 1:]
    if kind < 0.7:
        return word[:i] + word[i + 1:]
    if kind < 0.85:
        return word[:i] + ch + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def card_number(rng: random.Random) -> str:
    """A 16-digit number passing Luhn (made up, prefix 4 or 5)."""
    digits = [rng.choice([4, 5])] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for k, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if k % 2 == 0 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def mobile_number(cc: str, rng: random.Random) -> str:
    """A valid mobile number of the country (E.164), varied from phonenumbers' example."""
    ex = phonenumbers.example_number_for_type(cc, phonenumbers.PhoneNumberType.MOBILE)
    nsn = str(ex.national_number)
    for _ in range(200):
        keep = max(2, len(nsn) - 6)
        cand = nsn[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(nsn) - keep))
        num = phonenumbers.parse(f"+{ex.country_code}{cand}")
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return f"+{ex.country_code}{nsn}"


def phone_as_written(e164: str, rng: random.Random) -> str:
    """How one row writes a number: national, international, dotted, spaced, no trunk zero."""
    num = phonenumbers.parse(e164)
    nat = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    intl = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    r = rng.random()
    if r < 0.25:
        return nat
    if r < 0.45:
        return intl
    if r < 0.55:
        return e164
    if r < 0.65:
        return "".join(ch for ch in nat if ch.isdigit())
    if r < 0.75:
        return ".".join(intl.replace("-", " ").split()[1:]) if rng.random() < 0.5 else \
            nat.replace(" ", ".").replace("-", ".")
    if r < 0.85:
        return "00" + e164[1:]
    digits = "".join(ch for ch in nat if ch.isdigit())
    return digits[1:] if digits.startswith("0") else digits   # trunk zero dropped


def email_as_written(email: str, rng: random.Random) -> str:
    local, _, domain = email.partition("@")
    r = rng.random()
    if r < 0.55:
        return email
    if r < 0.65:
        return email.upper() if rng.random() < 0.3 else local.capitalize() + "@" + domain
    if r < 0.78:
        return f"{local}+{rng.choice(['shop', 'news', 'x', 'promo'])}@{domain}"
    if domain == "gmail.com":
        if r < 0.9 and len(local) > 3:
            i = rng.randrange(1, len(local) - 1)
            return f"{local[:i]}.{local[i:]}@{domain}"
        return f"{local}@googlemail.com"
    return email


def name_as_written(p: Person, rng: random.Random) -> str:
    first, last = p.first, p.last
    if " " in last and rng.random() < 0.5:      # double surname: first one only, or hyphenated
        last = last.split()[0] if rng.random() < 0.6 else last.replace(" ", "-")
    r = rng.random()
    if r < 0.12 and first in NICKNAMES:
        first = rng.choice(NICKNAMES[first])
    if p.cc in ("RU", "UA", "GR", "BG") and rng.random() < 0.55:
        first, last = unidecode(first), unidecode(last)
    if rng.random() < 0.08:
        if rng.random() < 0.5:
            first = keyboard_typo(first, rng)
        else:
            last = keyboard_typo(last, rng)
    r = rng.random()
    if r < 0.15:
        return f"{first[0]}. {last}"
    if r < 0.2:
        return f"{first[0]} {last}"
    if r < 0.28:
        return f"{last.upper()} {first}"           # surname first, capitals
    if r < 0.36:
        return f"{last}, {first}"
    if r < 0.4:
        return f"{first} {last}".lower()
    if r < 0.44:
        return f"{last} {first}"                   # swapped, nothing marks it
    return f"{first} {last}"


def make_person(pid: str, cc: str, fk: Faker, rng: random.Random) -> Person:
    male = rng.random() < 0.5
    first = fk.first_name_male() if male else fk.first_name_female()
    if rng.random() < 0.08 and cc in ("GB", "US", "AU", "IE"):
        first = rng.choice([n for n in NICKNAMES if n.isascii()])
    last = fk.last_name_male() if male and cc in ("RU", "UA", "BG", "PL") else fk.last_name()
    if cc in ("ES", "BR") and rng.random() < 0.6:
        last = f"{last} {fk.last_name()}"
    handle = unidecode(rng.choice([first, first[0] + last, last, first + last[0]])).lower()
    handle = "".join(ch for ch in handle if ch.isalnum())[:12] or "user"
    username = f"{handle}{rng.choice(['', '_', '.'])}{rng.randrange(1, 999)}"
    local = unidecode(rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randrange(10, 99)}",
                                  f"{last}.{first[0]}"])).lower().replace(" ", "")
    local = "".join(ch for ch in local if ch.isalnum() or ch == ".").strip(".") or "mail"
    domain = rng.choice(GLOBAL_MAIL + COUNTRIES[cc][1])
    emails = [f"{local}@{domain}"]
    if rng.random() < 0.15:                      # a second account with another address
        emails.append(f"{handle}{rng.randrange(100, 999)}@{rng.choice(GLOBAL_MAIL)}")
    return Person(pid, cc, first, last, fk.street_address().replace("\n", ", "), fk.city(),
                  fk.postcode(), mobile_number(cc, rng), emails, username, card_number(rng),
                  f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}."
                  f"{rng.randrange(1, 255)}")


def generate(n_rows: int, seed: int = 7) -> tuple[list[dict], list[str]]:
    """Rows (dicts with this list's headers) and the person id of each row."""
    rng = random.Random(seed)
    fakers = {cc: Faker(loc) for cc, (loc, _) in COUNTRIES.items()}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed * 1000 + i)
    ccs = list(WEIGHTS)
    people: list[Person] = []
    count = 0
    while count < n_rows * 0.45:
        cc = rng.choices(ccs, [WEIGHTS[c] for c in ccs])[0]
        fk = fakers[cc]
        p = make_person(f"P{len(people):06d}", cc, fk, rng)
        people.append(p)
        count += 1
        r = rng.random()
        if r < 0.12:                             # a household: 1-3 more members
            p.household = p.pid
            p.landline = mobile_number(cc, rng) if rng.random() < 0.5 else ""
            for _ in range(rng.randint(1, 3)):
                q = make_person(f"P{len(people):06d}", cc, fk, rng)
                while q.first == p.first or q.first[0] == p.first[0]:
                    q.first = fk.first_name()
                q.last = p.last
                q.street, q.city, q.postcode, q.ip = p.street, p.city, p.postcode, p.ip
                q.landline, q.household = p.landline, p.pid
                if rng.random() < 0.5:
                    q.card = p.card                # family card
                people.append(q)
                count += 1
        elif r < 0.18:                           # a namesake in the same city
            q = make_person(f"P{len(people):06d}", cc, fk, rng)
            q.first, q.last, q.city = p.first, p.last, p.city
            people.append(q)
            count += 1
    rows: list[dict] = []
    owner: list[str] = []
    for p in people:
        k = rng.choices([1, 2, 3, 4, 5, 6, 8], [30, 25, 18, 12, 8, 5, 2])[0]
        for _ in range(k):
            rows.append(row_of(p, rng))
            owner.append(p.pid)
    order = list(range(len(rows)))
    rng.shuffle(order)
    order = order[:n_rows]
    return [rows[i] for i in order], [owner[i] for i in order]


def row_of(p: Person, rng: random.Random) -> dict:
    def some(value: str, missing: float) -> str:
        return "" if not value or rng.random() < missing else value

    phone = p.landline if p.landline and rng.random() < 0.3 else p.mobile
    email = rng.choice(p.emails)
    return {
        "Name": name_as_written(p, rng),
        "Email": some(email_as_written(email, rng), 0.1),
        "Login": some(p.username.upper() if rng.random() < 0.05 else p.username, 0.35),
        "Mobile": some(phone_as_written(phone, rng), 0.2),
        "Address": some(keyboard_typo(p.street, rng) if rng.random() < 0.05 else p.street, 0.2),
        "Town": some(p.city, 0.15),
        "Zip": some(p.postcode, 0.2),
        "Country": some(p.cc, 0.25),
        "Card": some(p.card, 0.5),
        "IP": some(p.ip, 0.4),
    }


def write(rows: list[dict], owners: list[str], out: Path) -> None:
    """out/list.csv and out/people.csv (row number from 1 → person id)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "list.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with (out / "people.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "person"])
        w.writerows((i, pid) for i, pid in enumerate(owners, start=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows, owners = generate(args.rows, args.seed)
    write(rows, owners, args.out)
    print(f"{len(rows)} rows, {len(set(owners))} people → {args.out}")


if __name__ == "__main__":
    main()
