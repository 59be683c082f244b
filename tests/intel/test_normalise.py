"""Normalising names, e-mails, phones, IPs and countries."""

from __future__ import annotations

import pytest

from haven.intel.countries import cctld_country, country_code, postcode_countries, provider_country
from haven.intel.normalise import (
    fold_name,
    given_name_aliases,
    given_names_compatible,
    iban_country,
    name_parts,
    normalise_email,
    normalise_ip,
    normalise_phone,
)


def test_names_are_nfkc_casefolded_with_accents_kept_and_a_folded_form():
    p = name_parts("Dr.  JOSÉ   Núñez", None, None)
    assert (p.full, p.first, p.last) == ("josé núñez", "josé", "núñez")
    assert (p.full_folded, p.first_folded, p.last_folded) == ("jose nunez", "jose", "nunez")
    assert name_parts("Núñez, José", None, None).first == "josé"
    assert fold_name("Ｍüller") == "muller"          # full-width letters via NFKC
    assert fold_name("Иван Петров") == "ivan petrov"  # transliterated


@pytest.mark.parametrize("raw,expected", [
    ("J.O.Smith+shop@GoogleMail.com", "josmith@gmail.com"),
    ("  Anna@Web.DE ", "anna@web.de"),
    ("a.b+x@outlook.com", "a.b@outlook.com"),
    ("bob-news@yahoo.com", "bob@yahoo.com"),
    ("not-an-email", None),
])
def test_emails(raw, expected):
    assert normalise_email(raw) == expected


def test_phones_to_e164_with_00_and_country_hints():
    p = normalise_phone("0044 20 7946 0958")
    assert (p.e164, p.region, p.explicit_cc, p.valid) == ("+442079460958", "GB", True, True)
    p = normalise_phone("030 1234567", ("DE",))
    assert (p.e164, p.region, p.explicit_cc) == ("+49301234567", "DE", False)
    # The first hint that gives a valid number wins.
    assert normalise_phone("612 345 678", (None, "GB", "ES")).e164 == "+34612345678"
    assert normalise_phone("030 1234567").valid is False  # no hint, no +CC
    assert normalise_phone("12").e164 is None


@pytest.mark.parametrize("raw,address,flag", [
    ("8.8.8.8", "8.8.8.8", None),
    ("::ffff:8.8.4.4", "8.8.4.4", None),
    ("10.1.2.3", "10.1.2.3", "private"),
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("100.64.0.9", "100.64.0.9", "shared_cgnat"),
    ("2001:4860:4860::8888", "2001:4860:4860::8888", None),
    ("fe80::1%eth0", "fe80::1", "link_local"),
    ("1.2.3.4:443", "1.2.3.4", None),
    ("999.1.1.1", None, "invalid"),
])
def test_ips_validated_and_non_public_flagged(raw, address, flag):
    ip = normalise_ip(raw)
    assert (ip.address, ip.non_public) == (address, flag)


@pytest.mark.parametrize("raw,cc", [
    ("DE", "DE"), ("deu", None), ("DEU", "DE"), ("Deutschland", "DE"), ("Allemagne", "DE"),
    ("Alemania", "DE"), ("Германия", "DE"), ("UK", "GB"), ("Royaume-Uni", "GB"),
    ("España", "ES"), ("espana", "ES"), ("Brasil", "BR"), ("Côte d'Ivoire", "CI"), ("", None),
    ("Atlantis", None),
])
def test_country_names_in_several_languages(raw, cc):
    assert country_code(raw) == cc


def test_cctld_vanity_providers_postcodes_and_iban():
    assert cctld_country("shop.co.uk") == "GB"
    assert cctld_country("startup.io") is None and cctld_country("x.tv") is None
    assert cctld_country("gmail.com") is None
    assert provider_country("web.de") == "DE" and provider_country("mail.ru") == "RU"
    assert "GB" in postcode_countries("SW1A 1AA")
    assert postcode_countries("1234 AB") == {"NL"}
    assert iban_country("DE89370400440532013000") == "DE"
    assert iban_country("DE89370400440532013001") is None


@pytest.mark.parametrize("raw, first, last, surname", [
    ("P. Smith", "p", "smith", ("smith",)),
    ("M. Dupont", "m", "dupont", ("dupont",)),          # an initial, not "Monsieur"
    ("M. Jean Dupont", "jean", "dupont", ("dupont",)),  # here it is the title
    ("SMITH Patrick", "patrick", "smith", ("smith",)),  # capitalised surname first
    ("CAVALCANTE PIRES Gabrielly", "gabrielly", "pires", ("cavalcante", "pires")),
    ("Gabrielly Cavalcante Pires", "gabrielly", "pires", ("cavalcante", "pires")),
    ("García-López, Ana", "ana", "garcialopez", ("garcia", "lopez")),
    ("JOHN SMITH", "john", "smith", ("smith",)),         # all capitals: order as written
])
def test_name_order_initials_and_double_surnames(raw, first, last, surname):
    parts = name_parts(raw, None, None)
    assert (parts.first_folded, parts.last_folded, parts.surname_tokens) == (first, last, surname)


@pytest.mark.parametrize("a, b, same", [
    ("patrick", "p", True), ("bill", "william", True), ("will", "bill", True),
    ("tom", "thomas", True), ("mo", "moses", True), ("jon", "john", True),
    ("alice", "alicia", True), ("jane", "tom", False), ("fatima", "friedrich", False),
    ("p", "t", False), ("agathe", "fournier", False),
])
def test_given_names_compatible_with_initials_nicknames_and_typos(a, b, same):
    assert given_names_compatible(a, b) is same
    assert given_names_compatible(b, a) is same
    assert "william" in given_name_aliases("bill")


def test_a_national_phone_on_a_row_without_country_reads_with_the_lists_country():
    # hints: the row's own country first; the file's usual country (last hint) otherwise
    assert normalise_phone("0412662612", (None, "AU")).e164 == "+61412662612"
    assert normalise_phone("412662612", (None, "AU")).e164 == "+61412662612"   # trunk 0 dropped
    assert normalise_phone("+61 412 662 612", (None, "DE")).e164 == "+61412662612"
    assert normalise_phone("0412.662.612", ("AU", "GB")).e164 == "+61412662612"
