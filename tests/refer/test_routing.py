"""Routing subjects to packages: own country, shared, review, unattributed, no legislation."""

from __future__ import annotations

import pytest

from haven.refer.errors import ReferError
from haven.refer.routing import COORDINATOR, read_no_legislation, route


def codes(deliveries):
    return [d.package for d in deliveries]


def test_a_subject_goes_to_its_country_only():
    assert codes(route({"country": "FR", "countries": ["FR"]})) == ["FR"]


def test_a_shared_subject_goes_to_every_country_concerned_marked_shared():
    d = route({"country": "ES", "countries": ["ES", "FR"], "shared": True})
    assert codes(d) == ["ES", "FR"]
    assert d[0].shared_with == ("FR",) and d[1].shared_with == ("ES",)


def test_review_and_unattributed_subjects_go_to_the_coordinator_with_the_reason():
    review = route({"country": None, "countries": ["IT", "PT"], "review": True})
    assert codes(review) == [COORDINATOR] and "IT, PT" in review[0].note
    none = route({"country": None, "countries": [], "review": False})
    assert codes(none) == [COORDINATOR] and none[0].note.startswith("unattributed")


def test_no_legislation_country_gets_nothing_and_the_coordinator_gets_a_note():
    d = route({"country": "JM", "countries": ["JM"]}, frozenset({"JM"}))
    assert codes(d) == [COORDINATOR] and "JM" in d[0].note
    d = route({"country": "ES", "countries": ["ES", "JM"]}, frozenset({"JM"}))
    assert codes(d) == ["ES", COORDINATOR]
    assert d[0].shared_with == () and "also sent to ES" in d[1].note


def test_no_legislation_list_reads_codes_and_comments(tmp_path):
    f = tmp_path / "nl.txt"
    f.write_text("# kept aside\njm\nKP, SO  # two more\n")
    assert read_no_legislation(f, ["ye"]) == {"JM", "KP", "SO", "YE"}
    f.write_text("Jamaica\n")
    with pytest.raises(ReferError, match="alpha-2"):
        read_no_legislation(f)
