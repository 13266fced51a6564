"""Response bodies read through the fast parser give what ``json`` gives, or the same error."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edu_async_core.errors import RequestContext
from edu_async_core.reading import ensure_json_object, responses
from tutorflow_async.errors import FAMILY, BadResponseError

CONTEXT = RequestContext("GET", "/v1/x")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: they must stay exact ints
    | st.integers(min_value=2**63 - 10, max_value=2**64 + 10)
    | st.floats()  # NaN and infinities included: json writes them, json reads them
    | st.text()  # lone surrogates included
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def outcome(body: bytes) -> tuple[str, Any]:
    """What ``decode_json`` makes of ``body``, comparable across parsers (NaN included)."""
    try:
        value = responses.decode_json(body, 200, CONTEXT, FAMILY)
    except BadResponseError as exc:
        return ("error", str(exc))
    return ("value", json.dumps(value, sort_keys=False))


def reference(body: bytes) -> tuple[str, Any]:
    """The same, with the standard library's parser alone."""
    saved = responses._parse, responses._parse_next
    responses._parse, responses._parse_next = responses._parse_utf8, None
    try:
        return outcome(body)
    finally:
        responses._parse, responses._parse_next = saved


NO_FAST_PARSER = responses._parse_next is None


@pytest.mark.skipif(NO_FAST_PARSER, reason="no fast parser on this interpreter")
@given(documents, st.booleans())
def test_any_json_document_reads_as_json_reads_it(document: Any, ascii_only: bool) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    got = outcome(body)
    assert got == reference(body)
    if got[0] == "value":
        assert json.dumps(json.loads(body)) == got[1]


@pytest.mark.skipif(NO_FAST_PARSER, reason="no fast parser on this interpreter")
@given(st.binary(max_size=60) | st.sampled_from([
    b"", b"  ", b"NaN", b"[Infinity]", b"\xef\xbb\xbf{}", b'"\\ud800"',
    b"123456789012345678901234567890", b'{"a":1,"a":2}',
    '{"é": 1}'.encode("utf-16"), b"[" * 5000 + b"]" * 5000, b"<html>", b"{1:2}",
]))
def test_any_bytes_read_as_json_reads_them_or_fail_the_same_way(body: bytes) -> None:
    assert outcome(body) == reference(body)


def test_integers_beyond_64_bits_stay_exact() -> None:
    value = responses.decode_json(b'{"id": 123456789012345678901234567890}', 200, CONTEXT, FAMILY)
    assert value == {"id": 123456789012345678901234567890}
    assert type(value["id"]) is int


def test_standard_extensions_still_read_and_garbage_is_a_typed_error() -> None:
    value = responses.decode_json(b"[NaN, Infinity]", 200, CONTEXT, FAMILY)
    assert math.isnan(value[0]) and value[1] == math.inf
    assert responses.decode_json(b" \n", 200, CONTEXT, FAMILY) is None
    with pytest.raises(BadResponseError, match="not JSON"):
        responses.decode_json(b"{oops", 200, CONTEXT, FAMILY)


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'{"a": 1}', {"a": 1}), (b"", {}), (b"  ", {}), (b"null", {})],
)
def test_an_object_answer_reads_as_a_dict_and_nothing_as_an_empty_one(
    body: bytes, expected: dict[str, Any]
) -> None:
    response = responses.Response(200, {}, body, CONTEXT)
    assert response.json_object("a job", FAMILY) == expected
    assert ensure_json_object(responses.Response(200, {}, body, CONTEXT), "a job", FAMILY) == (
        expected
    )


@pytest.mark.parametrize("body", [b"[1]", b'"job"', b"3", b"true"])
def test_any_other_json_value_is_a_bad_response_naming_what_was_expected(body: bytes) -> None:
    for read in (
        lambda r: r.json_object("an expansion job", FAMILY),
        lambda r: ensure_json_object(r, "an expansion job", FAMILY),
    ):
        with pytest.raises(BadResponseError, match="expected a JSON object for an expansion job"):
            read(responses.Response(200, {}, body, CONTEXT))
