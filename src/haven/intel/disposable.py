"""A small shipped list of disposable (throw-away) e-mail domains; offline, no updates."""

from __future__ import annotations

DISPOSABLE_DOMAINS = frozenset({
    "10minutemail.com", "20minutemail.com", "33mail.com", "anonbox.net", "burnermail.io",
    "discard.email", "dispostable.com", "dropmail.me", "emailondeck.com", "fakeinbox.com",
    "getairmail.com", "getnada.com", "guerrillamail.com", "guerrillamail.de",
    "guerrillamail.net", "guerrillamail.org", "guerrillamailblock.com", "harakirimail.com",
    "incognitomail.org", "inboxkitten.com", "jetable.org", "mailcatch.com", "maildrop.cc",
    "mailinator.com", "mailinator.net", "mailnesia.com", "mailpoof.com", "mailsac.com",
    "mintemail.com", "moakt.com", "mohmal.com", "mytemp.email", "nada.email", "sharklasers.com",
    "spam4.me", "spambox.us", "spamgourmet.com", "temp-mail.org", "tempail.com",
    "tempinbox.com", "tempmail.net", "tempmail.dev", "tempmailo.com", "tempr.email",
    "throwawaymail.com", "trashmail.com", "trashmail.de", "trashmail.net", "yopmail.com",
    "yopmail.fr", "yopmail.net", "mail.tm", "mailtemp.net", "emailfake.com", "fakemail.net",
    "grr.la", "pokemail.net", "wegwerfmail.de", "wegwerfmail.net", "einrot.com",
    "byom.de", "cool.fr.nf", "jourrapide.com", "armyspy.com", "cuvox.de", "dayrep.com",
    "fleckens.hu", "gustr.com", "rhyta.com", "superrito.com", "teleworm.us",
})


def is_disposable(domain: str) -> bool:
    """True for a known throw-away domain or any subdomain of one."""
    d = domain.lower().rstrip(".")
    parts = d.split(".")
    return any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1))
