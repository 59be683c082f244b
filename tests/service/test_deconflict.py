"""Deconfliction keys for cards: the payment identity key, never a full number."""

from __future__ import annotations

from haven.intel.payment import protect_card
from haven.service.deconflict import normalise


def test_a_card_is_compared_by_its_payment_key_whatever_shape_the_package_holds():
    protected = protect_card([("card", "4120771234589904")], b"k" * 32)
    assert normalise("card", protected) == "412077******9904"
    assert normalise("card", "4120 77XX XXXX 9904") == "412077******9904"
    assert normalise("card", "bin=412077; last4=9904") == "412077******9904"
    assert normalise("card", "DE89 3704 0044 0532 0130 00") == "iban:DE89370400440532013000"
    assert normalise("card", "************9904") is None          # last 4 alone: too weak
    # an operation's HMAC of a mistyped number means nothing to another country
    assert normalise("card", protect_card([("card", "4120771234589905")], b"k" * 32)) is None
