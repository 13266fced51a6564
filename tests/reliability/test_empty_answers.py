"""An empty 200 where the call needs a document (a job, a page) is retried, never used.

The contract tolerates "an empty body on 200"; that holds where no content is needed
(revoke, delete). Where it is needed, taking "nothing" as the answer would be a bug: an
empty page would end a walk with items left. So an empty body is treated like a body
garbled in transit: retried when the call is safe to repeat, else a typed error.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses
from fast_settings import FAST

import nexttech_async as nt
import tutorflow_async as tf
from tutorflow_async.testing import EmulatorConfig, Fault, TutorFlowEmulator

CONTENTS = re.compile(r"^https://api\.next\.tech/v1/contents.*$")


@pytest.fixture
async def empty_emu() -> AsyncIterator[TutorFlowEmulator]:
    async with TutorFlowEmulator(EmulatorConfig(queued_seconds=0.0, processing_seconds=60)) as e:
        yield e


async def test_an_empty_create_answer_is_retried_and_finds_the_same_job(
    empty_emu: TutorFlowEmulator,
) -> None:
    issued = empty_emu.create_api_key(name="empty", rate_limit_per_minute=10_000)
    async with tf.ContentSession(issued.api_key, base_url=empty_emu.base_url, config=FAST,
                                 rate_limit_per_minute=10_000) as s:
        empty_emu.add_fault(Fault(kind="empty", method="POST", after_commit=True))
        job = await s.expansions.create({"level": {"id": "e1"}})
        empty_emu.add_fault(Fault(kind="empty", method="GET"))
        again = await s.expansions.get(job.id)

    assert again.id == job.id
    assert empty_emu.jobs_per_idempotency_key() == {job.idempotency_key: 1}
    assert empty_emu.counters.faults_injected == 2


async def test_an_empty_page_is_retried_rather_than_ending_the_walk(
    mocked: aioresponses,
) -> None:
    items = [{"id": i, "created_at": 1_600_000_100 - i} for i in range(1, 4)]
    mocked.get(CONTENTS, body=b"", status=200, content_type="application/json")
    mocked.get(CONTENTS, payload=items)
    mocked.get(CONTENTS, payload=[], repeat=True)
    async with nt.NextTechSession("tok", "sec", base_url="https://api.next.tech/v1",
                                  config=FAST) as s:
        got = [c.id async for c in s.contents.iterate()]

    assert got == [1, 2, 3]


async def test_an_always_empty_answer_is_a_typed_error(mocked: aioresponses) -> None:
    mocked.get(CONTENTS, body=b"", status=200, repeat=True)
    async with nt.NextTechSession("tok", "sec", base_url="https://api.next.tech/v1",
                                  config=FAST) as s:
        with pytest.raises(nt.BadResponseError, match="empty response body") as info:
            await s.contents.list()

    assert (info.value.attempts or 0) > 1
