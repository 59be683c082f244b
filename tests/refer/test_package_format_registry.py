"""Package formats are found by themselves, written in their order, the PDF only on request."""

from __future__ import annotations

import pytest

from haven.refer.formats import format_names, package_formats, register


def test_every_format_module_is_found_in_writing_order():
    assert format_names() == ["csv", "xlsx", "json", "caseuco", "html", "pdf"]
    assert [f.name for f in package_formats()] == ["csv", "xlsx", "json", "caseuco", "html"]
    assert [f.name for f in package_formats({"pdf"})][-1] == "pdf"


def test_register_refuses_a_format_without_an_order():
    with pytest.raises(TypeError, match="lacks"):
        @register
        class Unordered:  # noqa: F841 - the decorator is what is tested
            name = "unordered"
            on_request = False

            def write(self, package, out_dir):
                return []
    assert "unordered" not in format_names()
