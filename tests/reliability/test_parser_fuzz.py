"""Whatever a server answers, the SDK returns a model or raises its typed bad-response error.

Hypothesis builds answers from scratch (any JSON, any bytes) and by mutating valid ones
(fields missing, null, wrong-typed, extra), then feeds them to the very functions the
SDKs read answers with.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_mutations import mutated

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.errors import RequestContext
from edu_async_core.responses import Response
from edu_async_core.session import structure
from nexttech_async.cursor import ItemRef
from nexttech_async.models import Content, Grade
from nexttech_async.models import converter as nt_converter
from nexttech_async.walk import item_ref
from tutorflow_async.admin_resources import _list_items
from tutorflow_async.expansions import read_job, read_result

CONTEXT = RequestContext("GET", "/fuzz")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)
JOB = {"job": {"id": "job_1", "status": "completed", "sourceType": "source_json",
               "requestedOutputs": ["interactive_module"], "createdAt": "2026-01-01T00:00:00Z",
               "completedAt": "2026-01-01T00:01:00Z", "error": None},
       "outputs": [{"outputType": "interactive_module", "status": "completed",
                    "resourceType": "module", "resourceId": "m1",
                    "manifest": {"title": "t", "urls": {"publicUrl": "https://x/y"}}}],
       "manifest": {"title": "all"}}
CONTENT = {"created_at": 1_602_112_380, "updated_at": 1_602_112_380, "id": 7, "draft": False,
           "identifier": "0d3c", "editor_owned": True, "gradeable": True, "lti_url": "u",
           "name": "n", "position": None, "public_url": "p",
           "metadata": [{"created_at": 1, "updated_at": 2, "id": 3, "key": "k", "value": "v"}]}


def outcome(read: Callable[[], Any]) -> Any:
    """What ``read()`` returned, or the exception it raised (to assert on outside)."""
    try:
        return read()
    except Exception as exc:
        return exc


def answer(value: Any) -> Response:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Response(200, {}, body, CONTEXT)


def damaged(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid answer with one to four places damaged, or replaced whole by any JSON."""
    return mutated(base, JSON, changes=(1, 4), replace_root=True)


ANSWERS = st.one_of(JSON, st.binary(max_size=40), damaged(JOB))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS)
def test_job_and_result_readers_return_a_model_or_a_typed_error(value: Any) -> None:
    for read, model in ((read_job, tf.ExpansionJob), (read_result, tf.ExpansionResult)):
        parsed = outcome(functools.partial(read, answer(value)))
        if isinstance(parsed, tf.BadResponseError):
            assert parsed.method == "GET" and parsed.path == "/fuzz" and str(parsed)
        else:
            assert isinstance(parsed, model), repr(parsed)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.binary(max_size=40), st.lists(damaged(CONTENT), max_size=3)))
def test_listing_readers_return_models_or_a_typed_error(value: Any) -> None:
    response = answer(value)
    try:
        items = response.json(nt.errors.FAMILY)
    except nt.BadResponseError:
        return
    if not isinstance(items, list):
        return  # Listing.fetch refuses a non-list answer with BadResponseError
    for item in items:
        for read in (
            functools.partial(item_ref, item, response),
            functools.partial(structure, nt_converter, item, Content, response, nt.errors.FAMILY),
            functools.partial(structure, nt_converter, item, Grade, response, nt.errors.FAMILY),
        ):
            parsed = outcome(read)
            assert isinstance(parsed, nt.BadResponseError | ItemRef | Content | Grade), repr(parsed)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON, st.binary(max_size=40)))
def test_admin_listings_return_a_list_or_a_typed_error(value: Any) -> None:
    try:
        items = _list_items(answer(value), "API keys")
    except tf.BadResponseError:
        return
    assert isinstance(items, list)


def test_a_valid_document_reads_completely() -> None:
    result = read_result(answer(JOB))
    assert result.job.is_completed and result.outputs[0].manifest is not None
    assert result.outputs[0].manifest.public_url == "https://x/y"
    with pytest.raises(tf.BadResponseError, match="ExpansionJob"):
        read_job(answer({"job": {"status": "queued"}}))
