"""The generated readers agree with cattrs: same model, or they step aside.

Every model hook tries a generated reader first (``edu_async_core/reading/generated.py``)
and falls back to cattrs; ``ModelReader`` tries each half once. Hypothesis mutates valid
documents (fields dropped, nulled, retyped, added) and checks, for each model, that
whenever the fast reader returns a model, the cattrs path returns an equal one whose
every field has the same type and the same ``raw`` mapping; and that the hook as a
whole behaves like cattrs alone.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import sys
import weakref
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_mutations import mutated

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.errors import RequestContext
from edu_async_core.reading import ModelReader, Response, make_converter, snake_case, to_datetime
from edu_async_core.reading.generated import MISS, _builder_class
from nexttech_async import models as nt_models
from nexttech_async.models import converter as nt_converter
from tutorflow_async import models as tf_models
from tutorflow_async.expansions import read_job, read_result
from tutorflow_async.models import converter as tf_converter
from tutorflow_async.models import normalize_job, normalize_result

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2026-01-01", "12"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
JOB = {
    "job": {
        "id": "job_1",
        "status": "completed",
        "sourceType": "source_json",
        "requestedOutputs": ["interactive_module"],
        "idempotencyKey": "k",
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:30+00:00",
        "completedAt": "2026-01-01T00:01:00Z",
        "error": {"code": "x", "message": "y"},
    },
    "outputs": [
        {
            "outputType": "interactive_module",
            "status": "completed",
            "resourceType": "module",
            "resourceId": "m1",
            "manifest": {"title": "t", "urls": {"publicUrl": "https://x/y"}},
            "error": "boom",
        }
    ],
    "manifest": {"title": "all"},
}
CONTENT = {
    "created_at": 1_602_112_380,
    "updated_at": 1_602_112_381,
    "id": 7,
    "draft": False,
    "identifier": "0d3c",
    "editor_owned": True,
    "gradeable": True,
    "lti_url": "u",
    "name": "n",
    "position": 3,
    "public_url": "p",
    "metadata": [{"created_at": 1, "updated_at": 2, "id": 3, "key": "k", "value": "v"}],
}
GRADE = {
    "id": 9,
    "created_at": 1_602_112_380,
    "course_name": "c",
    "lesson_uid": "l",
    "project_metadata": [{"key": "a", "value": 1}],
    "course_metadata": None,
}
KEY = {"id": "k1", "name": "ci", "keyPrefix": "tf_", "rateLimitPerMinute": 60, "lastUsedAt": None}


def halves(conv: cattrs.Converter, cls: type[Any]) -> tuple[Any, Any]:
    hook: Any = conv.get_structure_hook(cls)
    return hook.fast, hook.slow


def outcome(read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except Exception as exc:
        return exc


def assert_same(fast: Any, slow: Any) -> None:
    """Equal models, field by field with the same types, nested models included."""
    assert type(fast) is type(slow)
    if not attrs.has(type(fast)):
        if isinstance(fast, tuple):
            assert len(fast) == len(slow)
            for a, b in zip(fast, slow, strict=True):
                assert_same(a, b)
        else:
            assert fast == slow
            if isinstance(fast, dt.datetime):
                assert fast.tzinfo == slow.tzinfo
        return
    for field in attrs.fields(type(fast)):
        a, b = getattr(fast, field.name), getattr(slow, field.name)
        if field.name == "raw":
            assert a == b  # the very mapping read, or one built alike (a bare error string)
        else:
            assert_same(a, b)


def check(conv: cattrs.Converter, cls: type[Any], data: Any) -> None:
    fast, slow = halves(conv, cls)
    got = outcome(fast, data)
    expected = outcome(slow, data, cls)
    if got is not MISS and not isinstance(got, Exception):
        assert not isinstance(expected, Exception), (data, expected)
        assert_same(got, expected)
    # The hook as a whole: the same model, or an error where cattrs alone raised one.
    whole = outcome(conv.structure, data, cls)
    if isinstance(expected, Exception):
        assert isinstance(whole, Exception)
    else:
        assert_same(whole, expected)


COMMON = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(mutated(JOB, JSON))
def test_job_and_result(doc: Any) -> None:
    if isinstance(doc, dict):
        check(tf_converter, tf.ExpansionJob, normalize_job(doc))
        check(tf_converter, tf.ExpansionResult, normalize_result(doc))
    check(tf_converter, tf.ExpansionJob, doc)


@COMMON
@given(mutated(CONTENT, JSON))
def test_content(doc: Any) -> None:
    check(nt_converter, nt.Content, doc)


@COMMON
@given(mutated(GRADE, JSON))
def test_grade(doc: Any) -> None:
    check(nt_converter, nt.Grade, doc)


@COMMON
@given(mutated(KEY, JSON))
def test_api_key(doc: Any) -> None:
    check(tf_converter, tf.ApiKey, doc)


def fast(conv: cattrs.Converter, cls: type[Any], data: Any) -> Any:
    """What the generated reader alone gives: the model, or None where it steps aside."""
    got = outcome(halves(conv, cls)[0], data)
    return None if got is MISS or isinstance(got, Exception) else got


def test_the_usual_shapes_take_the_fast_path() -> None:
    content = fast(nt_converter, nt.Content, CONTENT)
    assert content is not None and content.raw is CONTENT
    assert content.created_at == to_datetime(CONTENT["created_at"])
    job = fast(tf_converter, tf.ExpansionJob, normalize_job(JOB))
    assert job is not None and job.outputs[0].error == tf.models.ErrorDetail(message="boom")
    assert job.updated_at == dt.datetime(2026, 1, 1, 0, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "changed",
    [
        {"id": "7"},  # an id as text: cattrs reads it as an int
        {"created_at": 1_602_112_380.5},  # a float timestamp
        {"name": 5},  # a number where text is expected: cattrs turns it into "5"
        {"metadata": ({"key": "k"},)},  # not a list
        {"created_at": 1, "updated_at": True},  # equal to created_at, but a bool
        {"created_at": 5, "updated_at": 5.0},  # equal, but a float
    ],
)
def test_unusual_shapes_are_left_to_cattrs(changed: dict[str, Any]) -> None:
    data = {**CONTENT, **changed}
    assert fast(nt_converter, nt.Content, data) is None
    check(nt_converter, nt.Content, data)


def test_init_is_bypassed_only_where_it_would_just_store_the_values() -> None:
    @attrs.frozen(weakref_slot=False)  # (3.11 keeps a class with one to its __init__)
    class Plain:
        a: int
        b: str | None = None

    @attrs.frozen
    class Checked:
        a: int = attrs.field(validator=attrs.validators.gt(0))

    @attrs.frozen
    class Hooked:
        a: int

        def __attrs_post_init__(self) -> None:
            object.__setattr__(self, "a", self.a + 1)

    @attrs.frozen(cache_hash=True)
    class Cached:
        a: int

    conv = make_converter(snake_case)
    assert conv.structure({"a": 1}, Plain) == Plain(1)
    with pytest.raises(cattrs.errors.ClassValidationError):  # the validator ran
        conv.structure({"a": -1}, Checked)
    assert conv.structure({"a": 1}, Hooked).a == 2
    assert hash(conv.structure({"a": 1}, Cached)) == hash(Cached(1))
    assert _builder_class(Plain) is not None
    assert _builder_class(Checked) is _builder_class(Hooked) is _builder_class(Cached) is None


def model_classes(module: Any) -> list[type[Any]]:
    return [v for v in vars(module).values() if isinstance(v, type) and attrs.has(v)]


@pytest.mark.parametrize(
    ("conv", "module"),
    [(tf_converter, tf_models), (nt_converter, nt_models)],
    ids=["tutorflow", "nexttech"],
)
def test_every_model_is_filled_through_its_mutable_twin(conv: Any, module: Any) -> None:
    """On every supported Python, not only where ``__weakref__`` slots allow it (3.12+)."""
    read_here = [
        cls for cls in model_classes(module) if hasattr(conv.get_structure_hook(cls), "fast")
    ]
    assert len(read_here) >= 3
    for cls in read_here:
        assert "o.__class__ = CLS" in halves(conv, cls)[0].__doc__, cls


@pytest.mark.parametrize(
    ("conv", "cls", "data"),
    [
        (tf_converter, tf.ExpansionResult, normalize_result(JOB)),
        (tf_converter, tf.ApiKey, KEY),
        (nt_converter, nt.Content, CONTENT),
        (nt_converter, nt.Grade, GRADE),
    ],
)
def test_a_model_filled_through_its_twin_is_the_frozen_class_itself(
    conv: Any, cls: type[Any], data: Any
) -> None:
    obj = fast(conv, cls, data)
    slow = halves(conv, cls)[1](data, cls)
    assert type(obj) is cls
    assert obj == slow and repr(obj) == repr(slow)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        obj.id = "other"
    assert attrs.evolve(obj) == obj
    assert pickle.loads(pickle.dumps(obj)) == obj  # noqa: S301 - our own bytes


def test_a_class_with_a_weakref_slot_reads_alike_on_every_python() -> None:
    """Python 3.11 cannot turn a twin into it; its reader then calls the class."""

    @attrs.frozen
    class Weak:
        a: int
        b: str | None = None

    conv = make_converter(snake_case)
    got = fast(conv, Weak, {"a": 1, "b": "x"})
    assert type(got) is Weak and got == Weak(1, "x")
    assert weakref.ref(got)() is got
    # The twin is used exactly where Python allows the change (3.12+).
    uses_twin = "o.__class__ = CLS" in halves(conv, Weak)[0].__doc__
    assert uses_twin is (sys.version_info >= (3, 12))


RESPONSE = Response(200, {}, b"", RequestContext("GET", "/x"))


class Counted:
    """A reader half that counts its calls."""

    def __init__(self, read: Any) -> None:
        self.read = read
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.read(*args)


def counted_reader(monkeypatch: pytest.MonkeyPatch) -> tuple[ModelReader[Any], Counted, Counted]:
    reader = ModelReader(nt_converter, nt.Content, nt.errors.FAMILY)
    fast_half, slow_half = Counted(reader._fast), Counted(reader._slow)
    monkeypatch.setattr(reader, "_fast", fast_half)
    monkeypatch.setattr(reader, "_slow", slow_half)
    return reader, fast_half, slow_half


@pytest.mark.parametrize(
    ("data", "fast_calls", "slow_calls"),
    [
        (CONTENT, 1, 0),  # the usual shape: the generated reader alone
        ({**CONTENT, "id": "7"}, 1, 1),  # it steps aside: cattrs, once
        ({**CONTENT, "id": None}, 1, 1),  # cattrs refuses: a typed error, nothing retried
    ],
)
def test_model_reader_tries_each_half_once(
    monkeypatch: pytest.MonkeyPatch, data: Any, fast_calls: int, slow_calls: int
) -> None:
    reader, fast_half, slow_half = counted_reader(monkeypatch)
    got = outcome(reader.read, data, RESPONSE)
    assert (fast_half.calls, slow_half.calls) == (fast_calls, slow_calls)
    assert isinstance(got, nt.Content | nt.BadResponseError)


def test_model_reader_failures_are_the_family_s_bad_response() -> None:
    reader = ModelReader(tf_converter, tf.ExpansionJob, tf.errors.FAMILY)
    with pytest.raises(tf.BadResponseError) as info:
        reader.read({"id": "j"}, RESPONSE)
    error = info.value
    assert str(error).startswith("unexpected ExpansionJob in response: ")
    assert "status" in str(error)
    assert (error.status, error.method, error.path) == (200, "GET", "/x")


def test_models_without_a_generated_reader_are_read_by_their_hook() -> None:
    reader = ModelReader(tf_converter, tf.CreatedApiKey, tf.errors.FAMILY)
    key = reader.read({"apiKey": "s", "keyId": "k"}, RESPONSE)
    assert key.api_key.reveal() == "s" and key.key_id == "k"
    detail = ModelReader(tf_converter, tf.models.ErrorDetail, tf.errors.FAMILY)
    assert detail.read("boom", RESPONSE).message == "boom"


_JOB: Any = JOB  # mypy infers a narrow type for JOB's literal
RESULT_DOCUMENTS: list[dict[str, Any]] = [
    _JOB,  # wrapped, the id under "id"
    {"job": {**_JOB["job"], "id": None, "jobId": "job_2"}, "outputs": _JOB["outputs"]},
    {"jobId": "job_3", "status": "processing", "outputs": []},  # flat
]


def _answer(document: Any) -> Response:
    return Response(200, {}, json.dumps(document).encode(), RequestContext("GET", "/x"))


@pytest.mark.parametrize("document", RESULT_DOCUMENTS)
def test_a_result_s_raw_is_the_document_as_sent(document: Any) -> None:
    """read_result completes a copy of the job: its ``raw`` is the untouched document,
    where read_job (a poll, whose document no one else sees) completes it in place."""
    result = read_result(_answer(document))
    assert result.raw == document
    job = read_job(_answer(document))
    assert job.id in ("job_1", "job_2", "job_3")
    assert job.id == result.job.id
    assert len(job.outputs) == len(result.outputs)
