import math

import pytest

from cviscript.language.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("3m", 180.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1m 30s", 90.0),
        ("2 s", 2.0),
        (".5s", 0.5),
        (5, 5.0),
        (0, 0.0),
        (2.5, 2.5),
        ("7", 7.0),
        ("0.75", 0.75),
        (" 3 ", 3.0),
    ],
)
def test_parses(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["abc", "", "2x", "s", "1.2.3s", "2 sec", "ms", "10 minutes", [1], {}]
)
def test_rejects_garbage_with_a_hint(value):
    with pytest.raises(ValueError, match="expected a duration like 250ms, 2s, 1.5s or 3m"):
        parse_duration(value)


def test_message_quotes_the_value():
    with pytest.raises(ValueError) as e:
        parse_duration("abc")
    assert str(e.value) == "expected a duration like 250ms, 2s, 1.5s or 3m, got 'abc'"


@pytest.mark.parametrize("value", [-1, -0.5, "-2s", "-3"])
def test_negative_is_an_error(value):
    with pytest.raises(ValueError, match="negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False, None, math.nan, math.inf, "inf", "nan"])
def test_booleans_none_and_non_finite_are_refused(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (2, "2s"), (90, "1m30s"), (3600, "1h"), (1.5, "1.5s")]
)
def test_format_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
