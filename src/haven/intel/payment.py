"""Payment identities as seized lists hold them: full, masked or split card numbers, processor
tokens and fingerprints, IBANs and account numbers. Pure functions, except that `protect_card`
takes the operation's key.

A list's card columns (one, or several mapped together as `card: [card_bin, card_last4]`)
become one **stored card text** at load (`records.card`):

- as it arrived when it holds no full card number (`412077******9904`, `pm_1Nx…`, an IBAN);
- role-tagged components when several columns or a telling header gave it
  (`bin=412077; last4=9904; expiry=2027-05`);
- a full PAN (Luhn-valid) never stays in clear: it becomes `bin=…; last4=…; len=16;
  pan_hmac=<HMAC-SHA256 under the operation's key>`, so the same card is recognised within the
  operation and nowhere else. A 12–19-digit number failing Luhn (a mistyped PAN, a long
  account number) is kept the same way (`account_hmac=…; last4=…`).

`card_identity(text)` reads a stored card text (or any raw value) into a `CardIdentity`. Its
`key` is what is compared (resolve's `card` column, the stolen-card indicator):

| what the list has | kind | key |
|---|---|---|
| full PAN; masked PAN with ≥ 6 leading digits; BIN + last 4 columns | `pan` / `bin_last4` | `412077******9904` (BIN cut to 6 + last 4) |
| masked PAN with 4–5 leading digits | `first4_last4` | `4120********9904` |
| last 4 only (`************9904`, `•••• 9904`) | `last4` | none: weak, never compared |
| processor token (`pm_…`, `tok_…`, `card_…`, `src_…`, `ba_…`) | `token` | `tok:pm_…` (case kept) |
| processor fingerprint (a `fingerprint` column) | `fingerprint` | `fp:…` (case kept) |
| IBAN (mod-97 valid) | `iban` | `iban:DE89…` |
| account number | `account` | `acct:…`, or `acct#<hmac>` for 12–19 digits |

Keys of different kinds never compare. A full PAN and a masked PAN or BIN + last 4 of the same
card get the same key; two full PANs with the same key but different HMACs, or two records
with different expiry dates, are different cards (`same_card`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

KEY_NAME = "payment.key"

#: Roles a card column can play, told from its header (`role_of_header`) or its value.
ROLES = ("card", "bin", "last4", "expiry", "exp_month", "exp_year", "token", "fingerprint",
         "iban", "account")

# Folded headers (lower-case letters and digits) → role.
_HEADER_ROLES: dict[str, str] = {}
for _role, _names in {
    "card": ("card", "cardnumber", "cardno", "cardnum", "pan", "maskedpan", "maskedcard",
             "cardmasked", "maskedcardnumber", "creditcard", "creditcardnumber", "ccnumber",
             "ccnum", "ccno", "debitcard", "cardhash", "cardref", "paymentref",
             "paymentreference", "payment", "paymentcard", "paymentid", "transactionref",
             "kartennummer", "numerotarjeta", "numerocarte", "numerodecarte", "cartao"),
    "bin": ("bin", "cardbin", "iin", "cardiin", "first6", "cardfirst6", "firstsix", "bin6",
            "bin8", "binnumber", "first6digits", "cardprefix", "issuerbin"),
    "last4": ("last4", "cardlast4", "lastfour", "cardlastfour", "last4digits", "l4",
              "lastdigits", "cardending", "endingin", "lastfourdigits", "cardsuffix", "last4ofcard", "cardlast"),
    "expiry": ("expiry", "expiration", "expirydate", "expirationdate", "cardexpiry",
               "cardexp", "cardexpiration", "expdate", "validthru", "validuntil", "gultigbis",
               "ablaufdatum", "caducidad", "cardexpirydate"),
    "exp_month": ("expmonth", "expirymonth", "expirationmonth", "cardexpmonth", "expm",
                  "cardexpirymonth"),
    "exp_year": ("expyear", "expiryyear", "expirationyear", "cardexpyear", "expy",
                 "cardexpiryyear"),
    "token": ("cardtoken", "paymenttoken", "paymentmethod", "paymentmethodid", "pmid",
              "stripetoken", "stripepaymentmethod", "vaultid", "vaulttoken",
              "paymentprofileid", "recurringdetailreference", "cardid", "sourceid"),
    "fingerprint": ("fingerprint", "cardfingerprint", "paymentfingerprint",
                    "paymentmethodfingerprint", "stripefingerprint"),
    "iban": ("iban", "ibannumber", "bankiban", "payeriban", "debtoriban"),
    "account": ("account", "accountnumber", "bankaccount", "bankaccountnumber", "acctno",
                "accountno", "acct", "kontonummer", "numerocuenta", "rib"),
}.items():
    for _name in _names:
        _HEADER_ROLES[_name] = _role

_TOKEN = re.compile(r"^(?:pm|tok|card|src|ba|btok)_[A-Za-z0-9]{6,}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
_MASK_CHARS = "*xX•·●∙◦#_?…."
_MASKED = re.compile(r"^(\d{0,8})[" + re.escape(_MASK_CHARS) + r"]+(\d{4})$")
_HMAC_TEXT = re.compile(r"^[0-9a-f]{16,64}$")
_TAGGED = re.compile(r"^\s*(?:" + "|".join(ROLES + ("pan_hmac", "account_hmac", "len"))
                     + r")\s*=")
# Card brand by prefix and the lengths its numbers have: a 13–19-digit number is taken for a
# card number (and masked outside card columns) only when both fit — IMEIs (15 digits, mostly
# 35…/86…/01…) and most order numbers do not.
_BRANDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("34", "34", (15,)), ("37", "37", (15,)),  # American Express
    ("4", "4", (13, 16, 19)),                  # Visa
    ("51", "55", (16,)), ("2221", "2720", (16,)),   # Mastercard
    ("6011", "6011", (16, 17, 18, 19)), ("644", "649", (16, 17, 18, 19)),
    ("65", "65", (16, 17, 18, 19)),            # Discover
    ("3528", "3589", (16, 17, 18, 19)),        # JCB
    ("300", "305", (14, 15, 16, 17, 18, 19)), ("36", "36", (14, 15, 16, 17, 18, 19)),
    ("38", "39", (16, 17, 18, 19)),            # Diners
    ("62", "62", (16, 17, 18, 19)),            # UnionPay
    ("50", "50", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("56", "58", (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro
)
_PAN_IN_TEXT = re.compile(r"(?<![\d])(?:\d[ \-]?){11,18}\d(?![\d])")
_BRAND_WORDS = re.compile(
    r"\b(?:visa|mastercard|master card|mc|amex|american express|discover|diners|jcb|maestro|"
    r"unionpay|cb|carte bleue|card|ending|ends|in|with|no|nr|number)\b\.?", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """An IBAN (spaces removed, upper case) whose mod-97 check holds."""
    if not _IBAN.match(text):
        return False
    moved = text[4:] + text[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def looks_like_pan(digits: str) -> bool:
    """A card number: Luhn-valid with a known brand's prefix and length (used outside card
    columns, where a Luhn-valid number alone would mask IMEIs and order numbers)."""
    if not (12 <= len(digits) <= 19 and luhn_valid(digits)):
        return False
    for lo, hi, lengths in _BRANDS:
        head = digits[: len(lo)]
        if lo <= head <= hi and len(digits) in lengths:
            return True
    return False


def mask_pan(digits: str) -> str:
    """`412077******9904`: the first six and last four digits, as PCI DSS allows showing."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def redact_pans(text: str | None) -> str | None:
    """Mask every card number (brand prefix, length and Luhn fit) inside free text."""
    if not text or sum(c.isdigit() for c in text) < 12:
        return text

    def sub(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return mask_pan(digits) if looks_like_pan(digits) else m.group(0)

    return _PAN_IN_TEXT.sub(sub, text)


def role_of_header(header: str) -> str | None:
    """The card role a column header names (`card_bin` → bin), or None."""
    text = unicodedata.normalize("NFKD", header).casefold()
    folded = re.sub(r"[^a-z0-9]", "", "".join(c for c in text if not unicodedata.combining(c)))
    return _HEADER_ROLES.get(folded)


_AUXILIARY = frozenset({"expiry", "exp_month", "exp_year"})


def card_columns(headers: Iterable[str]) -> list[str]:
    """Every header that names a card role, in file order (the guessed `card` composite).

    Expiry columns join only a list that has a card, token, IBAN or account column.
    """
    found = [(h, role_of_header(h)) for h in headers]
    found = [(h, r) for h, r in found if r]
    if not any(r not in _AUXILIARY for _, r in found):
        return []
    return [h for h, _ in found]


# --- the operation's key ---------------------------------------------------------------


def operation_key(op_dir: Path) -> bytes:
    """The operation's payment key (OP/payment.key, 32 random bytes, made on first use).

    Full card numbers are kept only as HMACs under it: the same card is recognised inside the
    operation; without the key the HMAC cannot be turned back into the number by trying all
    of them. It never leaves the operation directory (packages carry neither it nor a PAN).
    """
    path = op_dir / KEY_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _hmac(key: bytes, kind: str, digits: str) -> str:
    return hmac.new(key, f"{kind}\x00{digits}".encode(), hashlib.sha256).hexdigest()[:32]


# --- load: columns → stored card text -------------------------------------------------


def protect_card(components: Sequence[tuple[str, str]], key: bytes) -> str | None:
    """Stored card text from `(header, value)` pairs of one row's card columns.

    No full PAN survives: a Luhn-valid 12–19-digit number (in any column of the composite)
    becomes BIN, last 4, length and its HMAC; a long number failing Luhn becomes last 4 and
    an HMAC. A single column holding nothing secret is kept as it arrived.
    """
    parts: list[tuple[str, str]] = []
    secret = False
    composite = len(components) > 1
    for header, value in components:
        if value is None or not str(value).strip():
            continue
        value = str(value).strip()
        role = role_of_header(header) or "card"
        if role == "card" and composite:
            role = _role_by_shape(value)
        if role in ("card", "account", "bin", "last4"):
            norm = unicodedata.normalize("NFKC", value)
            digits = re.sub(r"[\s\-.]", "", norm)
            run = _PAN_IN_TEXT.search(norm)
            run_digits = re.sub(r"\D", "", run.group(0)) if run else ""
            if digits.isdigit():
                run_digits = digits               # 4111.1111.1111.1111 too
            if role != "account" and 12 <= len(run_digits) <= 19 and luhn_valid(run_digits):
                # a full PAN, alone or inside text ("Visa 4111 1111 1111 1111"); an account
                # column's long number is an account even when it happens to pass Luhn
                secret = True
                parts += [("bin", run_digits[:6]), ("last4", run_digits[-4:]),
                          ("len", str(len(run_digits))),
                          ("pan_hmac", _hmac(key, "pan", run_digits))]
                continue
            if digits.isdigit() and 12 <= len(digits) <= 19:
                # a long number failing Luhn: a mistyped PAN or an account; kept as an HMAC
                secret = True
                parts += [("last4", digits[-4:]), ("account_hmac", _hmac(key, "account", digits))]
                continue
        parts.append((role, value.replace(";", ",")))
    if not parts:
        return None
    if not secret and len(parts) == 1 and parts[0][0] == "card":
        return parts[0][1]
    return "; ".join(f"{role}={value}" for role, value in parts)


def _role_by_shape(value: str) -> str:
    """A composite's column whose header says nothing: 6–8 digits are a BIN, 4 digits the
    last 4 (an expiry written MMYY needs a telling header), a date-like value the expiry."""
    compact = re.sub(r"[\s\-]", "", value)
    if compact.isdigit() and 6 <= len(compact) <= 8:
        return "bin"
    if compact.isdigit() and len(compact) == 4:
        return "last4"
    if re.search(r"\d[/.\-]\d", value) and parse_expiry(value):
        return "expiry"
    return "card"


# --- resolve / attribute: stored card text → identity ---------------------------------


@dataclass(frozen=True)
class CardIdentity:
    """One record's payment identity (see the module docstring for kinds and keys)."""

    kind: str
    key: str | None          # compared key, None when too weak to compare (last 4 only)
    masked: str              # how it is shown: never a full PAN
    bin: str | None = None
    last4: str | None = None
    expiry: str | None = None    # YYYY-MM
    pan_hmac: str | None = None
    iban_country: str | None = None


def parse_expiry(text: str | None, month: str | None = None, year: str | None = None
                 ) -> str | None:
    """YYYY-MM from `12/27`, `12/2027`, `2027-12`, `1227`, or month and year apart."""
    if month and year:
        m, y = re.sub(r"\D", "", month), re.sub(r"\D", "", year)
        if m and y and 1 <= int(m) <= 12:
            return f"{(2000 + int(y)) if len(y) <= 2 else int(y):04d}-{int(m):02d}"
        return None
    if not text:
        return None
    t = text.strip()
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})(?:[-/.]\d{1,2})?(?:[ T].*)?", t)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(1)}-{int(m.group(2)):02d}"
    m = re.fullmatch(r"(\d{1,2})\s*[-/.]\s*(\d{2}|\d{4})", t) or re.fullmatch(r"(\d{2})(\d{2})", t)
    if m and 1 <= int(m.group(1)) <= 12:
        y = m.group(2)
        return f"{2000 + int(y) if len(y) == 2 else int(y):04d}-{int(m.group(1)):02d}"
    return None


def _components(text: str) -> list[tuple[str, str]]:
    if not _TAGGED.match(text):
        return [("card", text)]
    out = []
    for part in text.split(";"):
        role, sep, value = part.partition("=")
        if sep:
            out.append((role.strip(), value.strip()))
    return out


def _by_shape(value: str) -> dict[str, str]:
    """What an untagged card value is, from its shape alone."""
    v = unicodedata.normalize("NFKC", value).strip()
    if _TOKEN.match(v):
        return {"token": v}
    compact = re.sub(r"[\s\-]", "", v).upper()
    if _IBAN.match(compact):
        return {"iban": compact} if iban_valid(compact) else {"account": compact}
    if re.fullmatch(r"[\d.]+", compact) and compact.replace(".", "").isdigit() \
            and len(compact.replace(".", "")) >= 12:
        compact = compact.replace(".", "")   # 4111.1111.1111.1111
    if compact.isdigit():
        if 12 <= len(compact) <= 19:
            if luhn_valid(compact):
                return {"pan": compact}
            return {"account_long": compact}
        if len(compact) == 4:
            return {"last4": compact}
        return {"account": compact}
    stripped = _BRAND_WORDS.sub(" ", v)
    stripped = re.sub(r"[\s\-()\[\]:,/]", "", stripped)
    if re.fullmatch(r"\d{4}", stripped):       # "Visa ending in 9904"
        return {"last4": stripped}
    run = _PAN_IN_TEXT.search(v)                # "Visa 4111 1111 1111 1111"
    if run:
        d = re.sub(r"\D", "", run.group(0))
        if 12 <= len(d) <= 19 and luhn_valid(d):
            return {"pan": d}
    m = _MASKED.match(stripped)
    if m:
        lead, last4 = m.groups()
        out = {"last4": last4}
        if len(lead) >= 4:
            out["bin"] = lead
        return out
    return {"reference": compact} if compact else {}


def card_identity(text: str | None) -> CardIdentity | None:
    """The payment identity in a stored card text (or a raw value); None when there is none."""
    if not text or not str(text).strip():
        return None
    found: dict[str, str] = {}
    month = year = None
    for role, value in _components(str(text)):
        if not value:
            continue
        if role == "card":
            for k, v in _by_shape(value).items():
                found.setdefault(k, v)
        elif role == "bin":
            d = re.sub(r"\D", "", value)
            if 4 <= len(d) <= 8:
                found.setdefault("bin", d)
        elif role == "last4":
            d = re.sub(r"\D", "", value)
            if len(d) >= 4:
                found.setdefault("last4", d[-4:])
        elif role == "expiry":
            e = parse_expiry(value)
            if e:
                found.setdefault("expiry", e)
        elif role == "exp_month":
            month = value
        elif role == "exp_year":
            year = value
        elif role in ("token", "fingerprint"):
            found.setdefault(role, value.strip())
        elif role == "iban":
            compact = re.sub(r"[\s\-]", "", value).upper()
            found.setdefault("iban" if iban_valid(compact) else "account", compact)
        elif role == "account":
            for k, v in _by_shape(value).items():
                if k in ("pan", "account_long", "iban"):
                    found.setdefault("account_long" if k == "pan" else k, v)
                else:
                    found.setdefault("account", re.sub(r"[\s\-]", "", value).upper())
        elif role in ("pan_hmac", "account_hmac") and _HMAC_TEXT.match(value):
            found.setdefault(role, value)
        elif role == "len" and value.isdigit():
            found.setdefault("len", value)
    if "expiry" not in found and month and year:
        e = parse_expiry(None, month, year)
        if e:
            found["expiry"] = e
    return _identity(found)


def _identity(f: dict[str, str]) -> CardIdentity | None:
    expiry = f.get("expiry")
    pan = f.get("pan")
    if pan:   # a full PAN read directly (not protected): reduced, never kept
        f = {**f, "bin": pan[:6], "last4": pan[-4:], "len": str(len(pan))}
    bin_, last4 = f.get("bin"), f.get("last4")
    if bin_ and last4:
        length = int(f.get("len") or 16)
        if len(bin_) >= 6:
            b = bin_[:6]
            kind = "pan" if (pan or f.get("pan_hmac")) else "bin_last4"
        else:
            b = bin_[:4]
            kind = "first4_last4"
        key = b + "*" * (16 - len(b) - 4) + last4
        shown = b + "*" * max(length - len(b) - 4, 2) + last4
        return CardIdentity(kind, key, shown, b, last4, expiry, f.get("pan_hmac"))
    if f.get("account_hmac") or f.get("account_long"):
        digits = f.get("account_long")
        tail = last4 or (digits[-4:] if digits else "")
        # an unprotected long number (read directly): compared by its digits, shown by its tail
        key = f"acct#{f['account_hmac']}" if f.get("account_hmac") else f"acct:{digits}"
        return CardIdentity("account", key, f"account ****{tail}", last4=tail or None,
                            expiry=expiry)
    if f.get("fingerprint"):
        return CardIdentity("fingerprint", f"fp:{f['fingerprint']}", f"fingerprint {f['fingerprint']}",
                            last4=last4, expiry=expiry)
    if f.get("token"):
        return CardIdentity("token", f"tok:{f['token']}", f"token {f['token']}", last4=last4,
                            expiry=expiry)
    if f.get("iban"):
        iban = f["iban"]
        return CardIdentity("iban", f"iban:{iban}", iban, iban_country=iban[:2])
    if f.get("account"):
        return CardIdentity("account", f"acct:{f['account']}", f"account {f['account']}")
    if last4:
        return CardIdentity("last4", None, f"****{last4}", last4=last4, expiry=expiry)
    if f.get("reference"):
        ref = f["reference"]
        return CardIdentity("reference", f"ref:{ref}", f"reference {ref}")
    return None


def same_card(a: CardIdentity, b: CardIdentity) -> bool:
    """Same key, and neither the PAN HMACs nor the expiry dates (when both known) differ."""
    if a.key is None or a.key != b.key:
        return False
    if a.pan_hmac and b.pan_hmac and a.pan_hmac != b.pan_hmac:
        return False
    return not (a.expiry and b.expiry and a.expiry != b.expiry)
