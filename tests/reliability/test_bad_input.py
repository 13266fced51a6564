"""Bad input, table-driven, across both SDKs: each case a clear typed error.

Caller input (``CALLER_CASES``): an :class:`InvalidArgumentError` whose ``.argument`` names
the argument at fault and whose message starts with it, raised before any request (both
emulators' request counters stay put), with a message of bounded size even for a megabyte
of input.

Server answers (``RESPONSE_CASES``): whatever a server or a proxy sends back -- not JSON,
HTML, a wrong shape, megabytes, a misleading content type -- becomes the SDK's typed
bad-response or API error naming the problem, or, where the answer is usable, a model.

What the SDK does with big input (the API documents no size limit):

- a payload is sent as given, however large: a 1 MiB payload creates its job, and a
  server's 413 for a larger one surfaces typed and is not retried;
- ids and query values travel in the URL, whose request line servers cap at about 8 KiB:
  each is refused when over ``MAX_URL_VALUE_CHARS`` (1,024) characters once URL-encoded,
  and a Next Tech filter set over ``MAX_FILTER_QUERY_CHARS`` (6,144), naming the argument;
- an idempotency key travels in a header and is refused over 255 characters.

Ids with ``/``, ``%2F``, spaces or other unicode are valid: they are URL-quoted and stay
inside their path segment (``ODD_IDS``); ``.``, ``..``, control characters and blanks are
refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from cli_helpers import CliRun, base_env, run_cli
from fast_settings import FAST
from reliability.figures import FigureBook

import nexttech_async as nt
import tutorflow_async as tf
from edu_async_core.errors import InvalidArgumentError, SDKError
from edu_async_core.validation import MAX_URL_VALUE_CHARS, path_segment
from nexttech_async.filters import MAX_FILTER_QUERY_CHARS, Filters
from nexttech_async.testing import NextTechEmulator, NextTechEmulatorConfig
from tutorflow_async.testing import EmulatorConfig, TutorFlowEmulator

MEGABYTE = 1 << 20
EXPANSIONS = "/v1/content/integrations/expansions"
NAIVE = dt.datetime(2026, 1, 1)
LATE = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
EARLY = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
UID = "196e2e6a-1111-2222-3333-444455556666"


@attrs.define
class World:
    """Both emulators, with a session of each SDK (and an admin one) pointed at them."""

    tf_emu: TutorFlowEmulator
    nt_emu: NextTechEmulator
    content: tf.ContentSession
    admin: tf.AdminSession
    nexttech: nt.NextTechSession
    tmp: Path

    def requests(self) -> tuple[int, int]:
        return self.tf_emu.counters.requests, self.nt_emu.counters.requests


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    config = EmulatorConfig(queued_seconds=0.0, processing_seconds=60.0)
    async with (
        TutorFlowEmulator(config) as tf_emu,
        NextTechEmulator(NextTechEmulatorConfig(page_size=10)) as nt_emu,
    ):
        issued = tf_emu.create_api_key(name="bad-input", rate_limit_per_minute=100_000)
        async with (
            tf.ContentSession(issued.api_key, base_url=tf_emu.base_url, config=FAST,
                              rate_limit_per_minute=100_000) as content,
            tf.AdminSession(tf_emu.admin_jwt, organization_id=tf_emu.organization_id,
                            base_url=tf_emu.base_url, config=FAST) as admin,
            nt.NextTechSession(nt_emu.api_token, nt_emu.secret_key, base_url=nt_emu.base_url,
                               config=FAST) as nexttech,
        ):
            yield World(tf_emu, nt_emu, content, admin, nexttech, tmp_path)


Call = Callable[[World], object]


@attrs.frozen
class Case:
    """``call(world)`` must raise InvalidArgumentError naming ``argument``, sending nothing."""

    name: str
    argument: str
    call: Call
    xfail: str | None = None  # a known bug in a file this suite does not own


def c(name: str, argument: str, call: Call, xfail: str | None = None) -> Case:
    return Case(name, argument, call, xfail)


def _login(email: Any, password: Any) -> Call:
    async def call(w: World) -> None:
        await tf.AdminSession.login(email, password, base_url=w.tf_emu.base_url)

    return call


def _org_list(organization_id: str) -> Call:
    async def call(w: World) -> None:
        async with tf.AdminSession(w.tf_emu.admin_jwt, organization_id=organization_id,
                                   base_url=w.tf_emu.base_url) as admin:
            await admin.api_keys.list()

    return call


def _bulk(requests: Any, **kwargs: Any) -> Call:
    def call(w: World) -> object:
        return w.content.expand_many(requests, **kwargs)

    return call


def _resume_walk(token: str, **kwargs: Any) -> Call:
    def call(w: World) -> object:
        return w.nexttech.contents.iterate(resume=token, **kwargs)

    return call


TF_SECRET_PREFIX = "tf_content_"
KEY = "tf_content_BadInputKey0123456789"
NT_UNTOUCHED_CASES_START = "nt-"

CALLER_CASES: list[Case] = [
    # -- TutorFlow: expansions.create ----------------------------------------------------
    c("payload-none", "payload", lambda w: w.content.expansions.create(None)),  # type: ignore[arg-type]
    c("payload-list", "payload", lambda w: w.content.expansions.create([1])),  # type: ignore[arg-type]
    c("payload-str", "payload", lambda w: w.content.expansions.create("lesson")),  # type: ignore[arg-type]
    c("payload-bytes", "payload", lambda w: w.content.expansions.create(b"{}")),  # type: ignore[arg-type]
    c("payload-empty", "payload", lambda w: w.content.expansions.create({})),
    c("payload-set", "payload", lambda w: w.content.expansions.create({"x": {1, 2}})),
    c("payload-nan", "payload", lambda w: w.content.expansions.create({"x": math.nan})),
    c("outputs-unknown", "requested_outputs",
      lambda w: w.content.expansions.create({"x": 1}, requested_outputs=["podcast"])),
    c("outputs-megabyte-unknown", "requested_outputs",
      lambda w: w.content.expansions.create({"x": 1}, requested_outputs=["p" * MEGABYTE])),
    c("outputs-a-string", "requested_outputs",
      lambda w: w.content.expansions.create({"x": 1}, requested_outputs="interactive_module")),
    c("outputs-empty", "requested_outputs",
      lambda w: w.content.expansions.create({"x": 1}, requested_outputs=[])),
    c("outputs-blank-item", "requested_outputs[0]",
      lambda w: w.content.expansions.create({"x": 1}, requested_outputs=[""])),
    c("outputs-int-item", "requested_outputs[1]",
      lambda w: w.content.expansions.create(
          {"x": 1}, requested_outputs=["interactive_module", 3])),  # type: ignore[list-item]
    c("source-type-unknown", "source_type",
      lambda w: w.content.expansions.create({"x": 1}, source_type="pdf")),
    c("source-type-none", "source_type",
      lambda w: w.content.expansions.create({"x": 1}, source_type=None)),  # type: ignore[arg-type]
    c("source-type-megabyte", "source_type",
      lambda w: w.content.expansions.create({"x": 1}, source_type="s" * MEGABYTE)),
    c("key-empty", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key="")),
    c("key-padded", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key=" k ")),
    c("key-unicode", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key="clé-1")),
    c("key-newline", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key="a\nb")),
    c("key-256-chars", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key="k" * 256)),
    c("key-megabyte", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key="k" * MEGABYTE)),
    c("key-int", "idempotency_key",
      lambda w: w.content.expansions.create({"x": 1}, idempotency_key=42)),  # type: ignore[arg-type]
    # -- TutorFlow: ids ------------------------------------------------------------------
    c("job-id-empty", "job_id", lambda w: w.content.expansions.get("")),
    c("job-id-blank", "job_id", lambda w: w.content.expansions.get("   ")),
    c("job-id-none", "job_id", lambda w: w.content.expansions.get(None)),  # type: ignore[arg-type]
    c("job-id-int", "job_id", lambda w: w.content.expansions.get(42)),  # type: ignore[arg-type]
    c("job-id-dot", "job_id", lambda w: w.content.expansions.result(".")),
    c("job-id-dotdot", "job_id", lambda w: w.content.expansions.get("..")),
    c("job-id-nul", "job_id", lambda w: w.content.expansions.get("a\x00b")),
    c("job-id-megabyte", "job_id", lambda w: w.content.expansions.get("j" * MEGABYTE)),
    c("job-id-long-once-encoded", "job_id",
      lambda w: w.content.expansions.result("é" * (MAX_URL_VALUE_CHARS // 6 + 1))),
    # -- TutorFlow: waits and bulk runs ----------------------------------------------------
    c("wait-job-id-empty", "job_id", lambda w: w.content.wait_for_expansion("")),
    c("wait-timeout-zero", "timeout", lambda w: w.content.wait_for_expansion("j", timeout=0)),
    c("wait-timeout-nan", "timeout",
      lambda w: w.content.wait_for_expansion("j", timeout=math.nan)),
    c("wait-timeout-str", "timeout",
      lambda w: w.content.wait_for_expansion("j", timeout="5")),  # type: ignore[arg-type]
    c("wait-poll-negative", "poll_interval",
      lambda w: w.content.wait_for_expansion("j", poll_interval=-1)),
    c("wait-max-below-poll", "max_interval",
      lambda w: w.content.wait_for_expansion("j", poll_interval=5, max_interval=1)),
    c("resume-wait-garbage", "token", lambda w: w.content.resume_wait("not a token")),
    c("resume-wait-none", "token", lambda w: w.content.resume_wait(None)),  # type: ignore[arg-type]
    c("bulk-concurrency-zero", "concurrency", _bulk([{"x": 1}], concurrency=0)),
    c("bulk-concurrency-bool", "concurrency", _bulk([{"x": 1}], concurrency=True)),
    c("bulk-timeout-inf", "timeout", _bulk([{"x": 1}], timeout=math.inf)),
    c("bulk-requests-one-dict", "requests", _bulk({"x": 1})),
    c("bulk-requests-str", "requests", _bulk("inputs.jsonl")),
    c("bulk-journal-missing-dir", "journal",
      lambda w: w.content.expand_many([{"x": 1}], journal=w.tmp / "nowhere" / "run.jsonl")),
    c("bulk-journal-a-directory", "journal",
      lambda w: w.content.expand_many([{"x": 1}], journal=w.tmp)),
    c("bulk-journal-under-a-file", "journal",
      lambda w: w.content.expand_many([{"x": 1}], journal=Path(__file__) / "run.jsonl")),
    c("bulk-journal-not-a-path", "journal", _bulk([{"x": 1}], journal=42)),
    c("webhook-fallback-zero", "fallback_interval",
      lambda w: w.content.attach_webhooks(None, fallback_interval=0)),
    # -- TutorFlow: sessions ---------------------------------------------------------------
    c("content-key-empty", "api_key", lambda w: tf.ContentSession("", base_url=w.tf_emu.base_url)),
    c("content-key-int", "api_key",
      lambda w: tf.ContentSession(123, base_url=w.tf_emu.base_url)),  # type: ignore[arg-type]
    c("content-url-ftp", "base_url", lambda w: tf.ContentSession(KEY, base_url="ftp://h/x")),
    c("content-url-plain-http-remote", "base_url",
      lambda w: tf.ContentSession(KEY, base_url="http://api.tutorflow.io")),
    c("content-url-credentials", "base_url",
      lambda w: tf.ContentSession(KEY, base_url="https://user:pw@api.tutorflow.io")),
    c("content-url-megabyte", "base_url",
      lambda w: tf.ContentSession(KEY, base_url="x" * MEGABYTE)),
    c("content-rate-zero", "rate_limit_per_minute",
      lambda w: tf.ContentSession(KEY, base_url=w.tf_emu.base_url, rate_limit_per_minute=0)),
    c("content-rate-float", "rate_limit_per_minute",
      lambda w: tf.ContentSession(KEY, base_url=w.tf_emu.base_url,
                                  rate_limit_per_minute=1.5)),  # type: ignore[arg-type]
    # -- TutorFlow: admin ------------------------------------------------------------------
    c("admin-jwt-empty", "jwt", lambda w: tf.AdminSession("", base_url=w.tf_emu.base_url)),
    c("admin-jwt-int", "jwt",
      lambda w: tf.AdminSession(123, base_url=w.tf_emu.base_url)),  # type: ignore[arg-type]
    c("admin-login-email-empty", "email", _login("", "pw")),
    c("admin-login-password-empty", "password", _login("a@example.com", "")),
    c("admin-organization-empty", "organization_id", _org_list("")),
    c("admin-key-name-empty", "name", lambda w: w.admin.api_keys.create("")),
    c("admin-key-name-none", "name", lambda w: w.admin.api_keys.create(None)),  # type: ignore[arg-type]
    c("admin-key-rate-str", "rate_limit_per_minute",
      lambda w: w.admin.api_keys.create("ci", rate_limit_per_minute="60")),  # type: ignore[arg-type]
    c("admin-rotate-empty", "key_id", lambda w: w.admin.api_keys.rotate("")),
    c("admin-revoke-dotdot", "key_id", lambda w: w.admin.api_keys.revoke("..")),
    c("admin-webhook-url-ftp", "url", lambda w: w.admin.webhooks.create("ftp://x.invalid/h")),
    c("admin-webhook-url-empty", "url", lambda w: w.admin.webhooks.create("")),
    c("admin-webhook-events-unknown", "events",
      lambda w: w.admin.webhooks.create("https://x.invalid/h", events=["content.deleted"])),
    c("admin-webhook-events-empty", "events",
      lambda w: w.admin.webhooks.create("https://x.invalid/h", events=[])),
    c("admin-webhook-events-str", "events",
      lambda w: w.admin.webhooks.create("https://x.invalid/h", events="content.completed")),
    c("admin-webhook-delete-blank", "webhook_id", lambda w: w.admin.webhooks.delete(" ")),
    c("admin-export-classroom-empty", "classroom_id",
      lambda w: w.admin.exports.create("", lesson_id="l1")),
    c("admin-export-lesson-empty", "lesson_id",
      lambda w: w.admin.exports.create("class-1", lesson_id="")),
    c("admin-export-key-unicode", "idempotency_key",
      lambda w: w.admin.exports.create("class-1", lesson_id="l1", idempotency_key="ключ")),
    # -- Next Tech: dates ------------------------------------------------------------------
    c("nt-after-naive", "after", lambda w: w.nexttech.contents.list(after=NAIVE)),
    c("nt-before-naive", "before", lambda w: w.nexttech.grades.list(before=NAIVE)),
    c("nt-after-naive-text", "after",
      lambda w: w.nexttech.contents.list(after="2026-01-01T00:00:00")),
    c("nt-after-later-than-before", "after",
      lambda w: w.nexttech.contents.list(after=LATE, before=EARLY)),
    c("nt-grades-after-later-text", "after",
      lambda w: w.nexttech.grades.list(after="2026-02-01T00:00:00Z",
                                       before="2026-01-01T00:00:00Z")),
    c("nt-after-not-iso", "after", lambda w: w.nexttech.contents.list(after="yesterday")),
    c("nt-after-empty", "after", lambda w: w.nexttech.contents.list(after="")),
    c("nt-after-epoch-int", "after",
      lambda w: w.nexttech.contents.list(after=1_700_000_000)),  # type: ignore[arg-type]
    c("nt-after-megabyte-text", "after", lambda w: w.nexttech.contents.list(after="2" * MEGABYTE)),
    c("nt-iterate-naive", "before", lambda w: w.nexttech.contents.iterate(before=NAIVE)),
    # -- Next Tech: filters ----------------------------------------------------------------
    c("nt-project-metadata-str", "project_metadata",
      lambda w: w.nexttech.contents.list(project_metadata="level=x")),  # type: ignore[arg-type]
    c("nt-project-metadata-half-pair", "project_metadata[0]",
      lambda w: w.nexttech.contents.list(project_metadata=[("level",)])),  # type: ignore[list-item]
    c("nt-project-metadata-empty-key", "project_metadata[0] key",
      lambda w: w.nexttech.contents.list(project_metadata={"": "v"})),
    c("nt-project-metadata-none-value", "project_metadata[level]",
      lambda w: w.nexttech.contents.list(project_metadata={"level": None})),  # type: ignore[dict-item]
    c("nt-course-metadata-dict-value", "course_metadata[course]",
      lambda w: w.nexttech.grades.list(course_metadata={"course": {"a": 1}})),  # type: ignore[dict-item]
    c("nt-course-metadata-megabyte-value", "course_metadata[course]",
      lambda w: w.nexttech.grades.list(course_metadata={"course": "v" * MEGABYTE})),
    c("nt-course-uid-blank", "course_uid[1]",
      lambda w: w.nexttech.contents.list(course_uid=[UID, " "])),
    c("nt-course-uid-int", "course_uid",
      lambda w: w.nexttech.contents.list(course_uid=5)),  # type: ignore[arg-type]
    c("nt-course-uid-too-many", "course_uid",
      lambda w: w.nexttech.contents.list(
          course_uid=[UID] * (MAX_FILTER_QUERY_CHARS // len(UID) + 1))),
    c("nt-remote-user-empty", "remote_user_id",
      lambda w: w.nexttech.contents.list(remote_user_id="")),
    c("nt-remote-user-int", "remote_user_id",
      lambda w: w.nexttech.contents.list(remote_user_id=5)),  # type: ignore[arg-type]
    c("nt-remote-user-megabyte", "remote_user_id",
      lambda w: w.nexttech.contents.list(remote_user_id="u" * MEGABYTE)),
    c("nt-grades-remote-user", "remote_user_id",  # documented for contents only
      lambda w: w.nexttech.grades.list(remote_user_id="u1")),
    c("nt-grades-walk-remote-user", "remote_user_id",
      lambda w: w.nexttech.grades.iterate(remote_user_id="u1")),
    # -- Next Tech: walks and sessions -----------------------------------------------------
    c("nt-shards-zero", "shards", lambda w: w.nexttech.contents.iterate(after=EARLY, shards=0)),
    c("nt-shards-without-after", "after", lambda w: w.nexttech.contents.iterate(shards=2)),
    c("nt-resume-garbage", "resume", _resume_walk("{not json")),
    c("nt-resume-with-a-filter", "resume", _resume_walk("{}", after=EARLY)),
    c("nt-token-colon", "api_token",
      lambda w: nt.NextTechSession("a:b", "s", base_url=w.nt_emu.base_url)),
    c("nt-secret-empty", "secret_key",
      lambda w: nt.NextTechSession("t", "", base_url=w.nt_emu.base_url)),
    c("nt-token-int", "api_token",
      lambda w: nt.NextTechSession(123, "s", base_url=w.nt_emu.base_url)),  # type: ignore[arg-type]
    c("nt-url-plain-http-remote", "base_url",
      lambda w: nt.NextTechSession("t", "s", base_url="http://api.next.tech/v1")),
    c("nt-rate-zero", "rate_limit_per_minute",
      lambda w: nt.NextTechSession("t", "s", base_url=w.nt_emu.base_url,
                                   rate_limit_per_minute=0)),
]


def _params(cases: list[Case]) -> list[Any]:
    marks: list[Any] = []
    for case in cases:
        extra = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        marks.append(pytest.param(case, id=case.name, marks=extra))
    return marks


async def _invoke(call: Call, w: World) -> None:
    result = call(w)
    if inspect.isawaitable(result):
        await result


@pytest.mark.parametrize("case", _params(CALLER_CASES))
async def test_caller_input_is_refused_before_any_request(
    world: World, case: Case, figures: FigureBook
) -> None:
    row = figures.row("bad input: caller cases, both SDKs",
                      "outcomes = typed InvalidArgumentError naming the argument; "
                      "requests = requests that reached a server")
    row.inputs += 1
    before = world.requests()
    started = time.monotonic()
    with pytest.raises(InvalidArgumentError) as info:
        await _invoke(case.call, world)
    row.wall_s += time.monotonic() - started
    row.requests += sum(world.requests()) - sum(before)
    err = info.value
    assert err.argument == case.argument, str(err)
    assert str(err).startswith(f"{case.argument}: ")
    assert len(str(err)) < 400, "a clear message, not an echo of megabytes"
    assert isinstance(err, SDKError) and isinstance(err, ValueError)
    # Every error an SDK raises is of its own root class, bad input included.
    root = nt.NextTechError if case.name.startswith("nt") else tf.TutorFlowError
    assert isinstance(err, root), f"{type(err).__module__}.{type(err).__name__} is no {root}"
    assert world.requests() == before  # nothing reached either server
    row.outcomes = (row.outcomes or 0) + 1


def test_the_table_is_big_enough() -> None:
    assert len(CALLER_CASES) >= 40
    assert len({case.name for case in CALLER_CASES}) == len(CALLER_CASES)
    tutorflow = [x for x in CALLER_CASES if not x.name.startswith(NT_UNTOUCHED_CASES_START)]
    assert len(tutorflow) >= 20 and len(CALLER_CASES) - len(tutorflow) >= 20


# -- valid but odd input --------------------------------------------------------------------

ODD_IDS = ["../x", "a/b", "..%2Fx", "%2F", "a b", "é", "日本語", "a?b#c", "x" * 300]


@pytest.mark.parametrize("job_id", ODD_IDS, ids=["dotdot-slash", "slash", "encoded-slash",
                                                 "bare-%2F", "space", "e-acute", "cjk",
                                                 "query-and-fragment", "300-chars"])
async def test_odd_ids_stay_inside_their_path_segment(world: World, job_id: str) -> None:
    before = world.tf_emu.counters.requests
    with pytest.raises(tf.NotFoundError) as info:
        await world.content.expansions.result(job_id)
    assert info.value.attempts == 1  # a 404 is final
    assert world.tf_emu.counters.requests == before + 1
    sent = world.tf_emu.request_log[-1]
    assert sent.path.startswith(f"{EXPANSIONS}/") and sent.path.endswith("/result")
    segment = sent.path[len(EXPANSIONS) + 1 : -len("/result")]
    assert "/" not in segment and "?" not in segment and "#" not in segment


async def test_odd_filter_values_reach_the_server_exactly(world: World) -> None:
    odd = "a b&c=d#e/é+%2F"
    world.nt_emu.add_content(EARLY, remote_user_id=odd, metadata={"lang & level": odd})
    world.nt_emu.add_content(EARLY, remote_user_id="someone-else")
    page = await world.nexttech.contents.list(remote_user_id=odd,
                                              project_metadata={"lang & level": odd})
    assert len(page) == 1
    assert "+" not in world.nt_emu.request_log[-1].query_string.replace("%2B", "")


def test_url_length_limits_sit_exactly_at_their_bounds() -> None:
    # Regression: a megabyte id or filter value used to go out and meet the server's
    # 8 KiB request-line limit (a bare 400 from the server, not an error naming it).
    assert path_segment("x" * MAX_URL_VALUE_CHARS, "job_id") == "x" * MAX_URL_VALUE_CHARS
    assert len(path_segment("é" * (MAX_URL_VALUE_CHARS // 6), "job_id")) <= MAX_URL_VALUE_CHARS
    with pytest.raises(InvalidArgumentError, match=r"^job_id: is 1025 characters once"):
        path_segment("x" * (MAX_URL_VALUE_CHARS + 1), "job_id")
    fits = MAX_FILTER_QUERY_CHARS // (len("course_uid[]=") + len(UID) + 1)
    assert len(Filters.build(course_uid=[UID] * fits).course_uid) == fits
    with pytest.raises(InvalidArgumentError, match=r"^course_uid: the filters make a query"):
        Filters.build(course_uid=[UID] * (fits + 2))
    assert Filters.build(remote_user_id="u" * MAX_URL_VALUE_CHARS).remote_user_id


async def test_a_year_one_bound_goes_out_zero_padded(world: World) -> None:
    # Regression: strftime("%Y") wrote year 1 as "1", which the server refused (400).
    ancient = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    assert await world.nexttech.contents.list(after=ancient) == []
    assert "after=0001-01-01T00:00:00.000Z" in world.nt_emu.request_log[-1].query_string


async def test_a_megabyte_payload_is_sent_as_is(world: World) -> None:
    job = await world.content.expansions.create({"level": {"notes": "n" * 1_000_000}})
    assert world.tf_emu.jobs_created == 1 and job.id
    assert len(world.tf_emu.request_log[-1].body) > 1_000_000


async def test_a_payload_over_the_servers_limit_is_a_typed_413_not_retried() -> None:
    config = EmulatorConfig(max_body_bytes=256 * 1024)
    async with TutorFlowEmulator(config) as emu:
        issued = emu.create_api_key(rate_limit_per_minute=1000)
        async with tf.ContentSession(issued.api_key, base_url=emu.base_url, config=FAST) as s:
            with pytest.raises(tf.TutorFlowAPIError) as info:
                await s.expansions.create({"level": {"notes": "n" * 512_000}})
    assert info.value.status == 413 and info.value.attempts == 1
    assert emu.jobs_created == 0 and emu.counters.requests == 1


async def test_a_payload_over_a_mebibyte_is_sent_without_a_warning(world: World) -> None:
    await world.content.expansions.create({"level": {"notes": "n" * (2 * MEGABYTE)}})
    assert world.tf_emu.jobs_created == 1


# -- what servers send back -----------------------------------------------------------------


@attrs.frozen
class Canned:
    status: int
    body: bytes
    content_type: str = "application/json"


@attrs.frozen
class ResponseCase:
    """``call`` against a server answering ``answer`` raises ``error`` matching ``match``
    (or, with ``error`` None, returns a value ``check`` accepts)."""

    name: str
    answer: Canned
    call: Callable[[tf.ContentSession, nt.NextTechSession], Awaitable[Any]]
    error: type[Exception] | None
    match: str = ""
    check: Callable[[Any], bool] = lambda _: True
    xfail: str | None = None


def _get(s: tf.ContentSession, _: nt.NextTechSession) -> Awaitable[Any]:
    return s.expansions.get("job_1")


def _result(s: tf.ContentSession, _: nt.NextTechSession) -> Awaitable[Any]:
    return s.expansions.result("job_1")


def _contents(_: tf.ContentSession, n: nt.NextTechSession) -> Awaitable[Any]:
    return n.contents.list()


def _walk(_: tf.ContentSession, n: nt.NextTechSession) -> Awaitable[Any]:
    async def run() -> list[nt.Content]:
        return [item async for item in n.contents.iterate()]

    return run()


JOB_JSON = {"job": {"id": "job_1", "status": "queued"}, "outputs": []}
CONTENT_JSON = {"id": 7, "created_at": 1_602_112_380, "updated_at": 1_602_112_380,
                "name": "n", "metadata": []}
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
HUGE_TEXT = b"x" * (5 * MEGABYTE)
DEEP = b"[" * 100_000 + b"]" * 100_000

RESPONSE_CASES: list[ResponseCase] = [
    ResponseCase("tf-200-plain-text", Canned(200, b"OK", "text/plain"), _get,
                 tf.BadResponseError, "not JSON"),
    ResponseCase("tf-200-html-page", Canned(200, HTML, "text/html"), _get,
                 tf.BadResponseError, "not JSON: '<html>"),
    ResponseCase("tf-200-html-labelled-json", Canned(200, HTML), _result,
                 tf.BadResponseError, "not JSON"),
    ResponseCase("tf-200-invalid-utf8", Canned(200, b"\xff\xfe{\x00"), _get,
                 tf.BadResponseError, "not JSON"),
    ResponseCase("tf-200-array", Canned(200, b"[1, 2]"), _get,
                 tf.BadResponseError, "expected a JSON object for an expansion job, got list"),
    ResponseCase("tf-200-job-without-id", Canned(200, b'{"job": {"status": "queued"}}'), _get,
                 tf.BadResponseError, "ExpansionJob"),
    ResponseCase("tf-200-empty", Canned(200, b""), _get, tf.BadResponseError,
                 "empty response body"),
    ResponseCase("tf-200-five-megabytes-of-text", Canned(200, HUGE_TEXT, "text/plain"), _get,
                 tf.BadResponseError, "not JSON: 'xxxx"),
    ResponseCase("tf-500-five-megabytes-of-html", Canned(500, b"<html>" + HUGE_TEXT, "text/html"),
                 _get, tf.InternalServerError, "HTTP 500: <html>xxx"),
    ResponseCase("tf-502-proxy-page", Canned(502, HTML, "text/html"), _get,
                 tf.InternalServerError, "HTTP 502: <html><body><h1>502 Bad Gateway"),
    ResponseCase("tf-404-plain-text", Canned(404, b"Not Found", "text/plain"), _get,
                 tf.NotFoundError, "HTTP 404: Not Found"),
    ResponseCase("tf-200-deeply-nested", Canned(200, DEEP), _get, tf.BadResponseError,
                 "not JSON"),
    ResponseCase("tf-200-json-labelled-text", Canned(200, json.dumps(JOB_JSON).encode(),
                                                     "text/plain"), _get,
                 None, check=lambda job: job.id == "job_1"),  # the body decides, not the label
    ResponseCase("tf-200-five-megabytes-of-json",
                 Canned(200, json.dumps({**JOB_JSON, "extra": "e" * 5 * MEGABYTE}).encode()),
                 _result, None, check=lambda result: len(result.raw["extra"]) == 5 * MEGABYTE),
    ResponseCase("nt-200-object", Canned(200, b'{"contents": []}'), _contents,
                 nt.BadResponseError, "expected a JSON array of contents, got dict"),
    ResponseCase("nt-200-html", Canned(200, HTML, "text/html"), _contents,
                 nt.BadResponseError, "not JSON"),
    ResponseCase("nt-200-item-without-dates", Canned(200, b'[{"id": 1}]'), _walk,
                 nt.BadResponseError, "no usable id and integer created_at"),
    ResponseCase("nt-200-date-as-text",
                 Canned(200, json.dumps([{**CONTENT_JSON, "created_at": "yesterday"}]).encode()),
                 _contents, nt.BadResponseError, "Content"),
    ResponseCase("nt-200-five-megabytes-of-text", Canned(200, HUGE_TEXT, "text/plain"),
                 _contents, nt.BadResponseError, "not JSON"),
    ResponseCase("nt-503-html", Canned(503, HTML, "text/html"), _contents, nt.ServerError,
                 "HTTP 503: <html>"),
]


@pytest.fixture
async def canned() -> AsyncIterator[tuple[str, list[Canned]]]:
    """A server on 127.0.0.1 answering every request with ``holder[0]``."""
    holder: list[Canned] = []

    async def answer(_: web.Request) -> web.Response:
        a = holder[0]
        return web.Response(status=a.status, body=a.body, headers={"Content-Type": a.content_type})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", holder
    finally:
        await runner.cleanup()


def _response_params() -> list[Any]:
    return [
        pytest.param(case, id=case.name,
                     marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail
                     else [])
        for case in RESPONSE_CASES
    ]


@pytest.mark.parametrize("case", _response_params())
async def test_server_answers_become_typed_errors_or_models(
    canned: tuple[str, list[Canned]], case: ResponseCase, figures: FigureBook
) -> None:
    row = figures.row("bad answers: non-JSON, HTML, wrong shape, megabytes",
                      "outcomes = typed error naming the problem, or a model")
    row.inputs += 1
    base, holder = canned
    holder.append(case.answer)
    started = time.monotonic()
    async with (
        tf.ContentSession(KEY, base_url=base, config=FAST) as s,
        nt.NextTechSession("token", "secret-key-value", base_url=f"{base}/v1", config=FAST) as n,
    ):
        if case.error is None:
            assert case.check(await case.call(s, n))
            row.outcomes = (row.outcomes or 0) + 1
            return
        with pytest.raises(Exception) as info:  # noqa: PT011 (the type is checked below)
            await case.call(s, n)
        row.retries += (getattr(info.value, "attempts", None) or 1) - 1
    row.wall_s += time.monotonic() - started
    err = info.value
    assert type(err) is case.error or isinstance(err, case.error), repr(err)
    assert isinstance(err, tf.TutorFlowError | nt.NextTechError)
    assert case.match in str(err), str(err)
    assert len(str(err)) < 600  # megabytes in, a snippet out
    assert err.body_snippet is None or len(err.body_snippet) <= 200
    row.outcomes = (row.outcomes or 0) + 1


# -- the command-line tools -----------------------------------------------------------------


@attrs.frozen
class CliBadInput:
    """A CLI run that must exit 2 (usage) naming ``argument`` on stderr, sending nothing.

    ``module`` is ``"tutorflow_async.cli"`` or ``"nexttech_async.cli"``; the run gets both
    emulators' URLs and credentials in its environment (TUTORFLOW_API_BASE_URL,
    TUTORFLOW_CONTENT_API_KEY, NEXTTECH_API_BASE_URL, NEXTTECH_API_TOKEN,
    NEXTTECH_SECRET_KEY), plus ``env``.
    """

    name: str
    module: str
    args: tuple[str, ...]
    argument: str
    env: tuple[tuple[str, str], ...] = ()


TF_CLI, NT_CLI = "tutorflow_async.cli", "nexttech_async.cli"
#: A secret file named by cases that must fail before anything is written (it never is).
NEVER_WRITTEN = "never-written.secret"
_ADMIN = (("TUTORFLOW_ADMIN_EMAIL", "admin@example.com"),
          ("TUTORFLOW_ADMIN_PASSWORD", "emulator-password"))


def tf_cli(name: str, argument: str, *args: str, admin: bool = False) -> CliBadInput:
    return CliBadInput(name, TF_CLI, args, argument, _ADMIN if admin else ())


def nt_cli(name: str, argument: str, *args: str) -> CliBadInput:
    return CliBadInput(name, NT_CLI, args, argument)


def _never_written_exists() -> bool:
    return Path(NEVER_WRITTEN).exists()


#: Source-JSON files to expand, named absolutely (a run's directory is not the repository's).
_SOURCES = str(Path(__file__).resolve().parents[2] / "examples" / "sources")
#: Bad-input cases of the two command-line tools: each exits 2 naming the argument.
CLI_BAD_INPUT_CASES: list[CliBadInput] = [
    tf_cli("cli-expand-no-path", "FILE|DIR", "expand"),
    tf_cli("cli-expand-missing-path", "no/such/dir", "expand", "no/such/dir"),
    tf_cli("cli-expand-concurrency-zero", "--concurrency", "expand", ".", "--concurrency", "0"),
    tf_cli("cli-expand-concurrency-text", "--concurrency", "expand", ".", "--concurrency", "x"),
    tf_cli("cli-expand-timeout-negative", "--timeout", "expand", ".", "--timeout", "-1"),
    tf_cli("cli-expand-poll-nan", "--poll-interval", "expand", ".", "--poll-interval", "nan"),
    tf_cli("cli-expand-outputs-empty", "--requested-outputs", "expand", "no/such/dir",
           "--requested-outputs", ","),
    tf_cli("cli-expand-outputs-unknown", "--requested-outputs", "expand",
           "no/such/dir", "--requested-outputs", "interactive_module,hologram"),
    tf_cli("cli-expand-rate-zero", "--rate-limit", "expand", ".", "--rate-limit", "0"),
    tf_cli("cli-expand-journal-a-directory", "journal", "expand", _SOURCES, "--journal",
           _SOURCES),
    tf_cli("cli-expand-journal-no-parent", "journal", "expand", _SOURCES, "--journal",
           str(Path(_SOURCES) / "nowhere" / "run.jsonl")),
    tf_cli("cli-wait-empty-id", "JOB_ID", "wait", ""),
    tf_cli("cli-wait-dotdot-id", "JOB_ID", "wait", "job_1", ".."),
    tf_cli("cli-wait-megabyte-id", "JOB_ID", "wait", "j" * 5000),
    tf_cli("cli-result-no-id", "JOB_ID", "result"),
    tf_cli("cli-result-blank-id", "job_id", "result", "   "),
    tf_cli("cli-keys-no-action", "ACTION", "keys"),
    tf_cli("cli-keys-create-no-secret-file", "--secret-file", "keys", "create", "ci",
           admin=True),
    tf_cli("cli-keys-create-blank-name", "NAME", "keys", "create", " ", "--secret-file",
           NEVER_WRITTEN, admin=True),
    tf_cli("cli-keys-rate-negative", "--rate-limit", "keys", "create", "ci", "--rate-limit",
           "-5", "--secret-file", NEVER_WRITTEN, admin=True),
    tf_cli("cli-keys-rotate-dot-id", "KEY_ID", "keys", "rotate", ".", "--secret-file",
           NEVER_WRITTEN, admin=True),
    tf_cli("cli-keys-revoke-control-char", "KEY_ID", "keys", "revoke", "key\x01", admin=True),
    tf_cli("cli-webhooks-create-ftp-url", "URL", "webhooks", "create", "ftp://example.com/h",
           "--secret-file", NEVER_WRITTEN, admin=True),
    tf_cli("cli-webhooks-create-unknown-event", "--event", "webhooks", "create",
           "https://example.com/h", "--event", "content.exploded", "--secret-file",
           NEVER_WRITTEN, admin=True),
    tf_cli("cli-webhooks-delete-empty-id", "WEBHOOK_ID", "webhooks", "delete", "", admin=True),
    tf_cli("cli-listen-port-too-big", "--port", "webhooks", "listen", "--port", "70000"),
    tf_cli("cli-emulator-failure-rate", "--failure-rate", "emulator", "--failure-rate", "1.5"),
    tf_cli("cli-emulator-negative-processing", "--processing-seconds", "emulator",
           "--processing-seconds", "-1"),
    nt_cli("cli-contents-naive-after", "after", "contents", "--after", "2026-01-05T09:00:00"),
    nt_cli("cli-contents-after-later", "after", "contents", "--after", "2026-02-01T00:00Z",
           "--before", "2026-01-01T00:00Z"),
    nt_cli("cli-contents-bad-date", "before", "contents", "--before", "yesterday"),
    nt_cli("cli-contents-shards-zero", "--shards", "contents", "--after", "2026-01-01T00:00Z",
           "--shards", "0"),
    nt_cli("cli-contents-shards-no-after", "after", "contents", "--shards", "3"),
    nt_cli("cli-contents-metadata-no-equals", "--project-metadata", "contents",
           "--project-metadata", "level"),
    nt_cli("cli-contents-metadata-empty-key", "--course-metadata", "contents",
           "--course-metadata", "=x"),
    nt_cli("cli-contents-limit-zero", "--limit", "contents", "--limit", "0"),
    nt_cli("cli-contents-junk-token", "resume", "contents", "--resume", "not-a-token"),
    nt_cli("cli-contents-token-and-filter", "--resume", "contents", "--resume", "{}",
           "--after", "2026-01-01T00:00Z"),
    nt_cli("cli-contents-remote-user-empty", "remote_user_id", "contents", "--remote-user-id",
           ""),
    nt_cli("cli-grades-remote-user", "--remote-user-id", "grades", "--remote-user-id", "u1"),
    nt_cli("cli-emulator-page-size-zero", "--page-size", "emulator", "--page-size", "0"),
    nt_cli("cli-emulator-negative-latency", "--latency", "emulator", "--latency", "-0.5"),
]


async def test_cli_bad_input_exits_2_naming_the_argument(world: World) -> None:
    issued = world.tf_emu.create_api_key(name="cli-bad-input", rate_limit_per_minute=1000)
    env = base_env({
        "TUTORFLOW_API_BASE_URL": world.tf_emu.base_url,
        "TUTORFLOW_CONTENT_API_KEY": issued.api_key,
        "NEXTTECH_API_BASE_URL": world.nt_emu.base_url,
        "NEXTTECH_API_TOKEN": world.nt_emu.api_token,
        "NEXTTECH_SECRET_KEY": world.nt_emu.secret_key,
    })
    before = world.requests()
    gate = asyncio.Semaphore(3)  # a few at once: each is a whole Python start-up

    async def one(case: CliBadInput) -> CliRun:
        async with gate:
            return await run_cli(case.module, *case.args, env={**env, **dict(case.env)})

    runs = await asyncio.gather(*(one(case) for case in CLI_BAD_INPUT_CASES))
    for case, run in zip(CLI_BAD_INPUT_CASES, runs, strict=True):
        assert run.code == 2, (case.name, run.text)
        assert case.argument in run.stderr, (case.name, run.stderr)
        assert "Traceback" not in run.stderr, (case.name, run.stderr)
    assert world.requests() == before, "a CLI usage error sent a request"
    assert not _never_written_exists()
    assert len(CLI_BAD_INPUT_CASES) >= 30


def test_each_sdk_raises_its_own_insecure_transport_error() -> None:
    from edu_async_core.errors import InsecureTransportError

    with pytest.raises(tf.InsecureTransportError) as info:
        tf.ContentSession(KEY, base_url="http://example.com")
    assert isinstance(info.value, tf.TutorFlowError)
    assert isinstance(info.value, tf.InvalidArgumentError)
    assert isinstance(info.value, InsecureTransportError)  # the core's class still catches it
    with pytest.raises(nt.InsecureTransportError) as nt_info:
        nt.NextTechSession("token", "secret", base_url="http://example.com/v1")
    assert isinstance(nt_info.value, nt.NextTechError)
    assert not isinstance(nt_info.value, tf.TutorFlowError)
