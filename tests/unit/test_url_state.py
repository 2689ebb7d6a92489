"""URL state codec: what goes into the query string and what comes back out."""

from __future__ import annotations

import pytest

from ui.url_state import UrlParam, decode, encode


@pytest.mark.parametrize("param,value,text", [
    (UrlParam("k", "masks", [], "ints"), [3, 1, 12], "3,1,12"),
    (UrlParam("k", "sweep", False, "bool"), True, "1"),
    (UrlParam("k", "layer", 5, "int"), 2, "2"),
    (UrlParam("k", "text", "x"), "the cat & the [MASK]?", "the cat & the [MASK]?"),
    (UrlParam("k", "t", 0.5, "float"), 0.25, "0.25"),
])
def test_round_trip(param, value, text):
    assert encode(param, value) == text
    assert decode(param, text) == value


def test_defaults_are_left_out_and_bad_values_fall_back():
    ints = UrlParam("k", "masks", [], "ints")
    assert encode(ints, []) is None and encode(ints, None) is None
    assert decode(ints, "1,x") == []  # unreadable -> default
    assert decode(ints, "") == []
    choice = UrlParam("k", "edit", "mask_token", "str", ("mask_token", "delete"))
    assert decode(choice, "delete") == "delete"
    assert decode(choice, "rm -rf") == "mask_token"
    assert decode(UrlParam("k", "layer", 5, "int"), "five") == 5
    assert decode(UrlParam("k", "s", False, "bool"), "0") is False
