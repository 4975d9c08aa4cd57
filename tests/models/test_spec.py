"""Model spec strings: values and specs parsed, formatting round-trips, malformed specs refused."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, format_spec, parse_spec
from cnnlab.models.spec import parse_value


@pytest.mark.parametrize(
    "text, value", [("5", 5), ("-2", -2), ("0.5", 0.5), ("true", True), ("False", False), ("strided", "strided")]
)
def test_parse_value_types(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_spec_splits_name_and_variant():
    assert parse_spec(" simplecnn:pooling=strided, kernel_size=5,se=true ") == (
        "simplecnn",
        {"pooling": "strided", "kernel_size": 5, "se": True},
    )
    assert parse_spec("resnet18") == ("resnet18", {})
    assert parse_spec("timm/resnet50:drop_rate=0.1") == ("timm/resnet50", {"drop_rate": 0.1})


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


WORDS = NAMES.filter(lambda word: not isinstance(parse_value(word), (bool, int, float)))


VALUES = st.one_of(st.booleans(), st.integers(-1000, 1000), WORDS)


@settings(max_examples=60, deadline=None)
@given(name=NAMES, variant=st.dictionaries(NAMES, VALUES, max_size=4))
def test_format_spec_round_trips(name, variant):
    assert parse_spec(format_spec(name, variant)) == (name, variant)


@pytest.mark.parametrize("spec", ["simplecnn:pooling", ":se=true", "simplecnn:=3", "simplecnn:se=true,se=false"])
def test_malformed_specs_are_user_errors(spec):
    with pytest.raises(CnnlabError, match="malformed model spec"):
        create_model(spec)
