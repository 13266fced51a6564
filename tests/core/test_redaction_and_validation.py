from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edu_async_core.errors import InsecureTransportError, InvalidArgumentError
from edu_async_core.redaction import Secret, key_prefix
from edu_async_core.transport import encode_query
from edu_async_core.validation import (
    MAX_URL_VALUE_CHARS,
    base_url,
    path_segment,
    positive_int,
    str_list,
)

KEY = "tf_content_Zx81qP0c4Kf0cWbB3l2s9dP1"


def test_key_prefix_shows_type_and_four_chars() -> None:
    assert key_prefix(KEY) == "tf_content_Zx81…"
    assert key_prefix("abcdefghijklmnop") == "abcd…"
    assert key_prefix("abc") == "…"  # short secrets show nothing


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_mRJqRqSA_DY2MxkQ1bV7nQwErTyUi",  # random part that looks like "word_"
        "tf_content_abc_defghijklmnopqrstuvwx",
        "key_part_another_part_and_more_1234",  # no known type: no "type" is guessed
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
    ],
)
def test_a_prefix_never_shows_more_than_four_characters_of_the_random_part(secret: str) -> None:
    head = next((p for p in ("tf_content_", "whsec_") if secret.startswith(p)), "")
    shown = key_prefix(secret)

    assert shown.endswith("…")
    assert len(shown) - 1 - len(head) <= 4
    assert secret.startswith(shown[:-1])


def test_secret_never_prints_its_value() -> None:
    s = Secret(KEY)
    for text in (str(s), repr(s), f"{s}", "%s" % s, repr([s]), repr({"k": s})):  # noqa: UP031
        assert KEY not in text
        assert "Zx81qP" not in text
    assert s.reveal() == KEY
    assert Secret(s) == s and hash(Secret(KEY)) == hash(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("job_1", "job_1"), ("../x", "..%2Fx"), ("a/b", "a%2Fb"), ("a b", "a%20b"),
     ("%2F", "%252F"), ("é", "%C3%A9"), ("a?b#c", "a%3Fb%23c")],
)
def test_path_segment_keeps_ids_inside_their_segment(value: str, quoted: str) -> None:
    assert path_segment(value, "job_id") == quoted


@pytest.mark.parametrize("bad", ["", "  ", ".", "..", "a\nb", None, 5])
def test_path_segment_refuses_bad_ids_naming_the_argument(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^job_id: "):
        path_segment(bad, "job_id")


class Text(str):
    """A str subclass never takes ``path_segment``'s fast path: the reference for it."""


def segment_outcome(value: object) -> str:
    try:
        return path_segment(value, "job_id")
    except InvalidArgumentError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize(
    "value",
    ["a" * MAX_URL_VALUE_CHARS, "a" * (MAX_URL_VALUE_CHARS + 1), "...", ".a", "~-_.",
     "a\n", "\n", "٣", "a.."],
)
def test_path_segment_fast_path_agrees_with_the_general_one(value: str) -> None:
    assert segment_outcome(value) == segment_outcome(Text(value))


@given(st.text(max_size=40) | st.text("az09._~-/%", max_size=8))
def test_path_segment_fast_path_agrees_on_any_text(value: str) -> None:
    assert segment_outcome(value) == segment_outcome(Text(value))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://api.x.io"]
)
def test_base_url_accepts_https_and_loopback_http(url: str) -> None:
    assert str(base_url(url)).startswith(url.split(":")[0])


def test_base_url_refuses_plain_http_to_another_host() -> None:
    with pytest.raises(InsecureTransportError, match=r"^base_url: .*plain http"):
        base_url("http://api.tutorflow.io")


@pytest.mark.parametrize("url", ["ftp://x", "api.tutorflow.io", "https://u:p@h", "https://h/?q=1"])
def test_base_url_refuses_malformed(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^base_url: "):
        base_url(url)


def test_numbers_and_lists() -> None:
    assert positive_int(3, "n") == 3
    for bad in (0, -1, True, 1.5, "3"):
        with pytest.raises(InvalidArgumentError, match=r"^n: "):
            positive_int(bad, "n")
    with pytest.raises(InvalidArgumentError, match=r"^outs: unknown value"):
        str_list(["a", "z"], "outs", allowed=["a"])
    with pytest.raises(InvalidArgumentError, match=r"^outs: expected a list"):
        str_list("a", "outs")


def test_encode_query_keeps_order_repetition_and_brackets() -> None:
    pairs = [("course_uid[]", "a b"), ("course_uid[]", "c&d"), ("project_metadata[][key]", "x")]
    assert encode_query(pairs) == (
        "course_uid[]=a%20b&course_uid[]=c%26d&project_metadata[][key]=x"
    )
