"""Country knowledge: names in many languages → ISO 3166 alpha-2, ccTLDs, mail providers, postcodes.

All offline: pycountry's ISO 3166 tables and its gettext translations.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from functools import lru_cache

import pycountry

#: Languages whose country names are accepted in address/declared-country fields.
NAME_LANGUAGES = (
    "ar", "bg", "cs", "da", "de", "el", "es", "et", "fa", "fi", "fr", "he", "hi", "hr", "hu",
    "id", "it", "ja", "ko", "lt", "lv", "nl", "nb_NO", "pl", "pt", "pt_BR", "ro", "ru", "sk",
    "sl", "sr", "sv", "th", "tr", "uk", "vi", "zh_CN", "zh_TW",
)

# Names people write that are in no ISO table.
_ALIASES = {
    "uk": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "great britain": "GB", "britain": "GB", "usa": "US", "u.s.a.": "US", "u.s.": "US",
    "america": "US", "united states of america": "US", "holland": "NL", "russia": "RU",
    "south korea": "KR", "korea": "KR", "north korea": "KP", "iran": "IR", "syria": "SY",
    "vietnam": "VN", "laos": "LA", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ",
    "moldova": "MD", "czech republic": "CZ", "czechia": "CZ", "turkey": "TR", "türkiye": "TR",
    "ivory coast": "CI", "cote d'ivoire": "CI", "macedonia": "MK", "taiwan": "TW",
    "kosovo": "XK", "uae": "AE", "brasil": "BR", "deutschland": "DE", "österreich": "AT",
    "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "españa": "ES", "méxico": "MX",
    "polska": "PL", "россия": "RU", "україна": "UA", "italia": "IT", "sverige": "SE",
    "norge": "NO", "danmark": "DK", "suomi": "FI", "nederland": "NL", "belgië": "BE",
    "belgique": "BE", "magyarország": "HU", "česko": "CZ", "hrvatska": "HR", "ελλάδα": "GR",
    "nippon": "JP", "日本": "JP", "中国": "CN", "한국": "KR", "대한민국": "KR",
}

# Alpha-3 codes that are words too ("CAN", "AND") are only accepted in upper case.
_CCTLD_EXTRA = {"uk": "GB"}

#: ccTLDs sold worldwide as vanity names: no evidence of a country.
VANITY_TLDS = frozenset({
    "io", "co", "tv", "me", "ai", "fm", "am", "ly", "to", "cc", "ws", "gg", "la", "sh", "ac",
    "so", "nu", "tk", "ml", "ga", "cf", "gq", "vc", "pw", "cx", "is", "it", "st", "mu", "gl",
    "bz", "sx", "im", "eu", "ag", "re", "mn", "lc", "fo", "gs", "tc", "vg", "ms", "li", "cd",
})
# ".it" and ".is" are ambiguous: used as words ("pay.it") but also real national domains; we
# rely on the national providers table for those countries' mail instead.

#: National mail providers: domain → country (mail from these is evidence like a ccTLD).
MAIL_PROVIDERS = {
    "web.de": "DE", "gmx.de": "DE", "t-online.de": "DE", "freenet.de": "DE", "arcor.de": "DE",
    "gmx.at": "AT", "aon.at": "AT", "gmx.ch": "CH", "bluewin.ch": "CH",
    "orange.fr": "FR", "wanadoo.fr": "FR", "free.fr": "FR", "laposte.net": "FR", "sfr.fr": "FR",
    "libero.it": "IT", "virgilio.it": "IT", "tiscali.it": "IT", "alice.it": "IT",
    "tin.it": "IT", "email.it": "IT",
    "terra.es": "ES", "telefonica.net": "ES",
    "sapo.pt": "PT", "uol.com.br": "BR", "bol.com.br": "BR", "terra.com.br": "BR",
    "ig.com.br": "BR", "wp.pl": "PL", "o2.pl": "PL", "onet.pl": "PL", "interia.pl": "PL",
    "seznam.cz": "CZ", "centrum.cz": "CZ", "azet.sk": "SK", "zoznam.sk": "SK",
    "freemail.hu": "HU", "citromail.hu": "HU", "abv.bg": "BG", "mail.bg": "BG",
    "yandex.ru": "RU", "mail.ru": "RU", "rambler.ru": "RU", "bk.ru": "RU", "inbox.ru": "RU",
    "list.ru": "RU", "ukr.net": "UA", "i.ua": "UA", "meta.ua": "UA", "tut.by": "BY",
    "naver.com": "KR", "daum.net": "KR", "hanmail.net": "KR", "qq.com": "CN", "163.com": "CN",
    "126.com": "CN", "sina.com": "CN", "sohu.com": "CN", "yeah.net": "CN",
    "rediffmail.com": "IN", "btinternet.com": "GB", "sky.com": "GB", "virginmedia.com": "GB",
    "talktalk.net": "GB", "ntlworld.com": "GB", "bigpond.com": "AU", "optusnet.com.au": "AU",
    "xtra.co.nz": "NZ", "shaw.ca": "CA", "rogers.com": "CA", "sympatico.ca": "CA",
    "videotron.ca": "CA", "comcast.net": "US", "verizon.net": "US", "att.net": "US",
    "sbcglobal.net": "US", "cox.net": "US", "charter.net": "US", "telenet.be": "BE",
    "skynet.be": "BE", "ziggo.nl": "NL", "kpnmail.nl": "NL", "home.nl": "NL", "planet.nl": "NL",
    "telia.com": "SE", "bredband.net": "SE", "online.no": "NO", "jubii.dk": "DK",
    "luukku.com": "FI", "eircom.net": "IE", "netvision.net.il": "IL", "walla.co.il": "IL",
    "mynet.com": "TR", "yahoo.co.jp": "JP", "docomo.ne.jp": "JP", "ezweb.ne.jp": "JP",
    "prodigy.net.mx": "MX", "hotmail.com.ar": "AR", "fibertel.com.ar": "AR",
}

# Postcode shapes, used only to break ties between countries the evidence already names.
POSTCODE_PATTERNS = {
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
    "US": r"\d{5}(-\d{4})?",
    "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d",
    "NL": r"\d{4} ?[A-Z]{2}",
    "DE": r"\d{5}", "FR": r"\d{5}", "ES": r"\d{5}", "IT": r"\d{5}", "FI": r"\d{5}",
    "MX": r"\d{5}", "MY": r"\d{5}", "TR": r"\d{5}", "UA": r"\d{5}", "TH": r"\d{5}",
    "AT": r"\d{4}", "BE": r"\d{4}", "CH": r"\d{4}", "DK": r"\d{4}", "NO": r"\d{4}",
    "AU": r"\d{4}", "NZ": r"\d{4}", "HU": r"\d{4}", "PH": r"\d{4}", "ZA": r"\d{4}",
    "PT": r"\d{4}-\d{3}", "PL": r"\d{2}-\d{3}", "CZ": r"\d{3} ?\d{2}", "SK": r"\d{3} ?\d{2}",
    "SE": r"\d{3} ?\d{2}", "GR": r"\d{3} ?\d{2}", "BR": r"\d{5}-?\d{3}", "JP": r"\d{3}-?\d{4}",
    "RU": r"\d{6}", "IN": r"\d{6}", "CN": r"\d{6}", "RO": r"\d{6}", "KR": r"\d{5}",
    "IE": r"[A-Z]\d[\dW] ?[A-Z\d]{4}", "AR": r"[A-Z]?\d{4}([A-Z]{3})?",
}
_POSTCODE_RE = {cc: re.compile(rf"^{p}$") for cc, p in POSTCODE_PATTERNS.items()}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    return re.sub(r"\s+", " ", text)


def _strip_accents(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )


@lru_cache(maxsize=1)
def _name_table() -> dict[str, str]:
    table: dict[str, str] = {}

    def add(name: str | None, alpha2: str) -> None:
        if not name:
            return
        for key in {_fold(name), _strip_accents(_fold(name))}:
            table.setdefault(key, alpha2)

    countries = list(pycountry.countries)
    for c in countries:
        for attr in ("name", "official_name", "common_name"):
            add(getattr(c, attr, None), c.alpha_2)
    for lang in NAME_LANGUAGES:
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            continue
        for c in countries:
            for attr in ("name", "official_name", "common_name"):
                english = getattr(c, attr, None)
                if english:
                    add(tr.gettext(english), c.alpha_2)
    for alias, cc in _ALIASES.items():
        add(alias, cc)
    return table


_ALPHA2 = {c.alpha_2 for c in pycountry.countries} | {"XK"}
_ALPHA3 = {c.alpha_3: c.alpha_2 for c in pycountry.countries}


def country_code(text: str | None) -> str | None:
    """ISO 3166 alpha-2 for a country written as a code or a name in one of many languages."""
    if not text:
        return None
    raw = text.strip().strip(".")
    if not raw:
        return None
    up = raw.upper()
    if len(up) == 2 and up in _ALPHA2:
        return "GB" if up == "UK" else up
    if up == "UK":
        return "GB"
    if len(raw) == 3 and raw.isupper() and up in _ALPHA3:
        return _ALPHA3[up]
    key = _fold(raw)
    table = _name_table()
    return table.get(key) or table.get(_strip_accents(key))


def cctld_country(domain: str) -> str | None:
    """Country of an e-mail domain's ccTLD, or None for generic and vanity TLDs."""
    tld = domain.rsplit(".", 1)[-1].lower()
    if tld in _CCTLD_EXTRA:
        return _CCTLD_EXTRA[tld]
    if len(tld) != 2 or tld in VANITY_TLDS:
        return None
    cc = tld.upper()
    return cc if cc in _ALPHA2 else None


def provider_country(domain: str) -> str | None:
    """Country of a national mail provider (web.de, mail.ru, naver.com …), or None."""
    return MAIL_PROVIDERS.get(domain.lower())


def postcode_countries(postcode: str | None) -> set[str]:
    """Countries whose postcode shape the value has (many share a shape; a tie-breaker only)."""
    if not postcode:
        return set()
    value = re.sub(r"\s+", " ", postcode.strip().upper())
    return {cc for cc, rx in _POSTCODE_RE.items() if rx.match(value)}


def is_country(code: str | None) -> bool:
    return bool(code) and code in _ALPHA2
