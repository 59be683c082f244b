"""Payment identities: every accepted card/payment shape, its key, and no full PAN kept."""

from __future__ import annotations

import pytest

from haven.intel.fields import guess_mapping
from haven.intel.payment import (
    card_identity,
    iban_valid,
    looks_like_pan,
    luhn_valid,
    parse_expiry,
    protect_card,
    redact_pans,
    same_card,
)

KEY = b"k" * 32
PAN = "4120771234589904"          # Luhn-valid, made up
assert luhn_valid(PAN)


def stored(value, header="Card number"):
    return protect_card([(header, value)], KEY)


@pytest.mark.parametrize("value", [
    "412077******9904", "4120 77XX XXXX 9904", "4120-77**-****-9904", "412077xxxxxx9904",
    "412077…9904", "412077...9904", "4120 77•• •••• 9904",
])
def test_masked_pans_with_a_bin_give_the_bin_and_last4_key(value):
    ident = card_identity(stored(value))
    assert (ident.kind, ident.key, ident.bin, ident.last4) == (
        "bin_last4", "412077******9904", "412077", "9904")
    assert stored(value) == value          # nothing secret: kept as it arrived


@pytest.mark.parametrize("value", [
    "************9904", "XXXX-XXXX-XXXX-9904", "•••• 9904", "**** **** **** 9904",
    "Visa ending in 9904", "9904",
])
def test_last4_only_is_weak_and_never_compared(value):
    ident = card_identity(stored(value))
    assert ident.kind == "last4" and ident.key is None and ident.masked == "****9904"


def test_first4_and_last4_is_its_own_key():
    ident = card_identity(stored("4120 **** **** 9904"))
    assert (ident.kind, ident.key) == ("first4_last4", "4120********9904")


@pytest.mark.parametrize("value", [
    PAN, "4120 7712 3458 9904", "4120-7712-3458-9904", "4120.7712.3458.9904",
    "VISA 4120771234589904",
])
def test_full_pans_are_kept_only_as_bin_last4_and_a_keyed_hash(value):
    text = stored(value)
    assert PAN not in text.replace(" ", "").replace("-", "").replace(".", "")
    assert "771234" not in text
    ident = card_identity(text)
    assert (ident.kind, ident.key, ident.masked) == ("pan", "412077******9904",
                                                     "412077******9904")
    assert len(ident.pan_hmac) == 32
    # same card, same HMAC under one key; another operation's key gives another HMAC
    assert card_identity(stored(PAN)).pan_hmac == ident.pan_hmac
    assert card_identity(protect_card([("card", PAN)], b"o" * 32)).pan_hmac != ident.pan_hmac


def test_a_full_pan_and_its_masked_forms_and_split_columns_compare_equal():
    full = card_identity(stored(PAN))
    masked = card_identity(stored("412077******9904"))
    split = card_identity(protect_card([("card_bin", "412077"), ("card_last4", "9904")], KEY))
    assert full.key == masked.key == split.key
    assert same_card(full, masked) and same_card(masked, split)


def test_two_full_pans_sharing_bin_and_last4_are_different_cards():
    a, b = PAN, "4120771234669904"
    assert luhn_valid(b)
    ia, ib = card_identity(stored(a)), card_identity(stored(b))
    assert ia.key == ib.key and not same_card(ia, ib)


def test_split_columns_with_expiry_in_any_common_shape():
    for exp in ("05/27", "05/2027", "2027-05", "0527", "5/27"):
        text = protect_card([("card_bin", "412077"), ("card_last4", "9904"), ("exp_date", exp)],
                            KEY)
        ident = card_identity(text)
        assert (ident.key, ident.expiry) == ("412077******9904", "2027-05"), exp
    text = protect_card([("card_last4", "9904"), ("card_bin", "41207712"), ("exp_month", "5"),
                         ("exp_year", "2027")], KEY)
    ident = card_identity(text)
    assert (ident.key, ident.expiry) == ("412077******9904", "2027-05")
    other = card_identity(protect_card([("bin", "412077"), ("last4", "9904"),
                                        ("expiry", "06/28")], KEY))
    assert not same_card(ident, other)
    assert same_card(ident, card_identity(stored("412077******9904")))
    assert parse_expiry("13/27") is None


@pytest.mark.parametrize("header,value,key", [
    ("card_fingerprint", "Xt5EWLLDS7FJjR1c", "fp:Xt5EWLLDS7FJjR1c"),
    ("payment_method", "pm_1NxAbCdEfGhIj", "tok:pm_1NxAbCdEfGhIj"),
    ("Card number", "tok_1NxAbCdEfGhIj", "tok:tok_1NxAbCdEfGhIj"),
    ("Card number", "card_1NxAbCdEfGhIj", "tok:card_1NxAbCdEfGhIj"),
    ("Card number", "src_1NxAbCdEfGhIj", "tok:src_1NxAbCdEfGhIj"),
    ("Card number", "ba_1NxAbCdEfGhIj", "tok:ba_1NxAbCdEfGhIj"),
])
def test_processor_tokens_and_fingerprints_keep_their_case(header, value, key):
    ident = card_identity(protect_card([(header, value)], KEY))
    assert ident.key == key


def test_ibans_are_validated_mod_97_and_accounts_kept():
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE89370400440532013001")
    ident = card_identity(stored("de89 3704 0044 0532 0130 00", "IBAN"))
    assert (ident.kind, ident.key, ident.iban_country) == ("iban", "iban:DE89370400440532013000",
                                                           "DE")
    bad = card_identity(stored("DE89370400440532013001", "IBAN"))
    assert bad.kind == "account" and bad.iban_country is None
    acct = card_identity(stored("12-345-678", "account_number"))
    assert acct.key == "acct:12345678"


def test_long_numbers_failing_luhn_are_kept_hashed_like_pans():
    text = stored("4120771234589905")   # a PAN with a typo
    assert "4120771234589905" not in text
    ident = card_identity(text)
    assert ident.kind == "account" and ident.key.startswith("acct#") and ident.last4 == "9905"


def test_card_numbers_inside_free_text_are_masked_but_imeis_are_not():
    text = "paid 4120 7712 3458 9904; phone IMEI 356938035643809; amex 378282246310005"
    out = redact_pans(text)
    assert "4120 7712 3458 9904" not in out and "412077******9904" in out
    assert "356938035643809" in out
    assert "378282*****0005" in out
    assert looks_like_pan(PAN) and not looks_like_pan("356938035643809")


def test_usual_card_header_pairs_are_guessed_as_one_composite_field():
    m = guess_mapping(["Name", "E-mail", "card_bin", "card_last4", "card_exp", "Country"])
    assert m["card"] == ["card_bin", "card_last4", "card_exp"]
    m = guess_mapping(["name", "email", "Card Number", "Expiry Date"])
    assert m["card"] == ["Card Number", "Expiry Date"]
    m = guess_mapping(["name", "email", "card_fingerprint", "card_country"])
    assert m["card"] == "card_fingerprint" and m["card_country"] == "card_country"
    # an expiry column alone is not a card
    assert "card" not in guess_mapping(["name", "expiry"])


def test_an_account_column_number_passing_luhn_is_still_an_account_kept_hashed():
    number = "12345612345673"
    assert luhn_valid(number)
    text = stored("12-34-56 12345673", "account_number")
    assert number not in text.replace(" ", "").replace("-", "") and "pan_hmac" not in text
    ident = card_identity(text)
    assert ident.kind == "account" and ident.key.startswith("acct#")
