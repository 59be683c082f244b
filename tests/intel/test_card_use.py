"""Stolen-card and household-card indicators: different people, not one person's variants."""

from __future__ import annotations

from haven.intel.card_use import HOUSEHOLD_CARD, STOLEN_CARD, card_flags, same_person
from haven.intel.payment import protect_card
from haven.intel.resolve import normalise_record

KEY = b"k" * 32
PAN = "4120771234589904"
OTHER_PAN = "4120771234669904"      # same BIN and last 4, another card


def rec(i, subject, name, card=PAN, street=None, postcode=None, email=None, header="card"):
    raw = {"record_id": f"r{i}", "file": "list.csv", "row": i, "full_name": name,
           "street": street, "postcode": postcode, "email": email,
           "card": protect_card([(header, card)], KEY) if card else None}
    return normalise_record(raw) | {"subject_id": subject}


UNRELATED = ["Anna Berg", "Tomasz Nowak", "Sipho Dlamini", "Hiroshi Tanaka", "Lucía Pérez",
             "Oskar Lind"]


def test_a_card_on_six_unrelated_people_flags_every_subject_holding_it():
    shapes = [PAN, "412077******9904", "4120 77XX XXXX 9904", "4120-77**-****-9904", PAN,
              "4120 7712 3458 9904"]
    recs = [rec(i, f"S{i}", n, card=c, street=f"{i} High Street")
            for i, (n, c) in enumerate(zip(UNRELATED, shapes))]
    recs.append(rec(99, "S99", "Clean Person", card="4556737586899855"))
    flags = card_flags(recs)
    assert set(flags) == {f"r{i}" for i in range(6)}
    flag = flags["r0"]
    assert flag.kind == STOLEN_CARD and flag.people == 6
    assert flag.detail == "card 412077******9904 used by 6 different people"
    assert PAN not in flag.detail


def test_one_persons_name_variants_across_subjects_are_not_different_people():
    variants = ["Patrick Smith", "P. Smith", "Patrik Smith", "SMITH, Patrick", "Smith Patrick",
                "Pat Smith"]
    recs = [rec(i, f"S{i}", n) for i, n in enumerate(variants)]
    assert card_flags(recs) == {}
    cyr = [rec(1, "S1", "Иван Петров"), rec(2, "S2", "Ivan Petrov"), rec(3, "S3", "Iwan Petrow")]
    assert card_flags(cyr) == {}
    double = [rec(1, "S1", "María García López"), rec(2, "S2", "María García")]
    assert card_flags(double) == {}
    # surname first in capitals, two surnames, a typo: one person
    order = [rec(1, "S1", "FERREIRA ALMEIDA Melissa"), rec(2, "S2", "Melissa Ferteira Almeida"),
             rec(3, "S3", "N. Almeida Rezende"), rec(4, "S4", "ALMEIDA REZENDE Noah")]
    assert card_flags(order[:2]) == {} and card_flags(order[2:]) == {}


def test_a_shared_username_makes_one_person_despite_a_nickname():
    recs = [rec(1, "S1", "EWING Andy") | {"username": "emily_72"},
            rec(2, "S2", "Drew Ewing") | {"username": "emily_72"}]
    assert card_flags(recs) == {}


def test_a_household_gets_the_milder_indicator_not_the_stolen_one():
    recs = [rec(1, "S1", "Anna Berg", street="Storgatan 5", postcode="11122"),
            rec(2, "S2", "Erik Berg", street="Storgatan 5", postcode="11122"),
            rec(3, "S3", "Lisa Berg", street="Storgatan 5")]
    flags = card_flags(recs)
    assert {f.kind for f in flags.values()} == {HOUSEHOLD_CARD} and len(flags) == 3
    assert "3 people of one household" in flags["r1"].detail
    # surnames written first or joined by a hyphen, an address shared
    hh = [rec(1, "S1", "André Casa-Grande", street="Travessa de Lima, 909"),
          rec(2, "S2", "Casa Grande, Gustavo Henrique", street="Travessa de Lima, 909"),
          rec(3, "S3", "JUNCKEN Jonas", street="Travessa de Lima, 909", postcode="1"),
          rec(4, "S4", "Eberhardt Juncken", postcode="1")]
    assert {f.kind for f in card_flags(hh[:2]).values()} == {HOUSEHOLD_CARD}
    assert {f.kind for f in card_flags(hh[2:]).values()} == {HOUSEHOLD_CARD}
    # a household plus an outsider is a stolen card again
    recs.append(rec(4, "S4", "Tomasz Nowak", street="Ulica 1"))
    assert card_flags(recs)["r4"].kind == STOLEN_CARD


def test_bin_and_last4_alone_needs_three_people_a_full_pan_two():
    masked = [rec(1, "S1", "Anna Berg", card="412077******9904"),
              rec(2, "S2", "Tomasz Nowak", card="412077******9904")]
    assert card_flags(masked) == {}          # two cards of one issuer may share BIN+last 4
    masked.append(rec(3, "S3", "Sipho Dlamini", card="412077******9904"))
    assert len(card_flags(masked)) == 3
    full = [rec(1, "S1", "Anna Berg"), rec(2, "S2", "Tomasz Nowak")]
    assert {f.kind for f in card_flags(full).values()} == {STOLEN_CARD}


def test_same_bin_and_last4_with_different_pans_or_expiry_are_different_cards():
    recs = [rec(1, "S1", "Anna Berg", card=PAN), rec(2, "S2", "Tomasz Nowak", card=OTHER_PAN)]
    assert card_flags(recs) == {}
    split = [normalise_record({"record_id": f"r{i}", "file": "f", "row": i, "full_name": n,
                               "card": protect_card([("card_bin", "412077"),
                                                     ("card_last4", "9904"),
                                                     ("card_expiry", e)], KEY)})
             | {"subject_id": f"S{i}"}
             for i, (n, e) in enumerate([("Anna Berg", "05/27"), ("Tomasz Nowak", "06/28")])]
    assert card_flags(split) == {}


def test_one_subject_with_the_card_is_never_flagged():
    recs = [rec(1, "S1", "Anna Berg"), rec(2, "S1", "Tomasz Nowak")]
    assert card_flags(recs) == {}


def test_tokens_and_ibans_shared_by_two_unrelated_people_are_flagged():
    recs = [rec(1, "S1", "Anna Berg", card="pm_1NxAbCdEfGhIj"),
            rec(2, "S2", "Tomasz Nowak", card="pm_1NxAbCdEfGhIj")]
    assert card_flags(recs)["r1"].detail == "card token pm_1NxAbCdEfGhIj used by 2 different people"
    recs = [rec(1, "S1", "Anna Berg", card="DE89370400440532013000", header="iban"),
            rec(2, "S2", "Tomasz Nowak", card="DE89370400440532013000", header="iban")]
    assert len(card_flags(recs)) == 2


def test_same_person_needs_names_alike_or_a_shared_identifier_without_a_name_clash():
    a = rec(1, "S1", "Anna Berg", email="a@x.org")
    assert same_person(a, rec(2, "S2", "A. Berg"))
    assert same_person(a, rec(2, "S2", "Anna Bergström", email="a@x.org"))
    assert not same_person(a, rec(2, "S2", "Erik Berg", email="a@x.org"))
    assert not same_person(a, rec(2, "S2", "Tomasz Nowak"))


def test_a_card_on_hundreds_of_subjects_is_flagged_on_each():
    from faker import Faker

    fk = Faker("en_US")
    fk.seed_instance(3)
    recs = [rec(i, f"S{i}", fk.name(), card="pm_1TestPlaceholder") for i in range(2000)]
    flags = card_flags(recs)
    assert len(flags) == 2000 and flags["r0"].kind == STOLEN_CARD
