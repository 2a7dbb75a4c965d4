"""``errors.first_line``: the one line of a library's exception that mmlw quotes in its own error lines."""

from __future__ import annotations

import json

import pytest

from mmlongbench_write.errors import first_line


def test_a_multi_line_message_gives_its_first_line() -> None:
    assert first_line(RuntimeError("connection closed by peer\n  at pair.cc:589\n  at gloo")) \
        == "connection closed by peer"


def test_a_library_exception_keeps_its_own_wording() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads("{")
    assert first_line(caught.value) == str(caught.value)


def test_an_empty_message_is_empty_not_an_index_error() -> None:
    # `str(exc).splitlines()[0]`, which tracking.py used to write, raised IndexError here
    assert first_line(ValueError()) == "" and first_line(ValueError("")) == ""
