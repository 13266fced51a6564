"""pytest fixtures that run a TutorFlow emulator for the test using them.

Installed with the package as a ``pytest11`` entry point, so it loads by itself; the
fixtures are async and need ``pytest-asyncio`` (strict or auto mode). A test asks for

- ``tutorflow_emulator``: a running :class:`~tutorflow_async.testing.TutorFlowEmulator`;
- ``tutorflow_api_key``: an :class:`~tutorflow_async.testing.IssuedKey` of it;
- ``tutorflow_content_session``: a :class:`~tutorflow_async.ContentSession` on that key;
- ``tutorflow_admin_session``: an :class:`~tutorflow_async.AdminSession`, logged in;
- ``tutorflow_webhook_receiver``: a :class:`~tutorflow_async.webhooks.WebhookReceiver`
  serving on 127.0.0.1, registered with the emulator as a webhook, its secret set;
- ``tutorflow_webhook_session``: a ``ContentSession`` whose waits that receiver ends;

and configures them with ``@pytest.mark.tutorflow_emulator(**knobs)``: any field of
:class:`~tutorflow_async.testing.EmulatorConfig`, plus ``faults=[Fault(...), ...]`` and
``rate_limit_per_minute`` (of the key and of the content session's limiter). Knobs not
given take :data:`TUTORFLOW_EMULATOR_DEFAULTS`, then the ``EmulatorConfig`` defaults.
Markers on the module, class and function merge; the closest one wins per knob.

The server misbehaviours the vendor's thin docs allow are config knobs too, so a marker
reaches them: ``@pytest.mark.tutorflow_emulator(final_status="expired")``,
``status_case="upper"``, ``result_lag_seconds=0.5, result_lag_status=409`` (see
:class:`~tutorflow_async.testing.EmulatorConfig`); a per-job override is a call on the
fixture, ``tutorflow_emulator.override_status(job_id, MISSING)``.

``faults`` are armed when the test body starts, not when the emulator does, so fixture
setup (the admin login, a harness's own seeding) never consumes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import pytest

import tutorflow_async as tf
from edu_async_core.pytest_support import EmulatorMarker, async_fixture
from tutorflow_async.testing._config import EmulatorConfig
from tutorflow_async.testing._emulator import TutorFlowEmulator
from tutorflow_async.testing._faults import Fault
from tutorflow_async.testing._observations import IssuedKey
from tutorflow_async.webhooks import WebhookReceiver

__all__ = [
    "MARKER",
    "TUTORFLOW_EMULATOR_DEFAULTS",
    "TutorFlowMarkerOptions",
    "marker_options",
    "tutorflow_admin_session",
    "tutorflow_api_key",
    "tutorflow_content_session",
    "tutorflow_emulator",
    "tutorflow_webhook_receiver",
    "tutorflow_webhook_session",
]

#: The marker's name: ``@pytest.mark.tutorflow_emulator(**knobs)`` configures the
#: emulator behind the ``tutorflow_*`` fixtures (see :func:`marker_options`).
MARKER: Final = "tutorflow_emulator"

#: What the fixtures use for knobs no marker sets. Jobs finish in a tenth of a second
#: (the emulator's own defaults suit demos, not test suites), and the key's limit is
#: high enough that only a test asking for rate limiting meets it.
TUTORFLOW_EMULATOR_DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "queued_seconds": 0.0,
        "processing_seconds": 0.1,
        "rate_limit_per_minute": 6000,
        # Waits poll every 50 ms at first (not every 2 s), so a test that waits for a job
        # takes about as long as the job.
        "poll_interval": 0.05,
        "max_interval": 0.5,
        "faults": (),
    }
)

#: The marker's checks and hooks. ``pytest_configure`` registers it, so ``--strict-markers``
#: accepts it and ``--markers`` lists it; ``pytest_runtest_call`` arms its faults.
_MARKER: Final = EmulatorMarker(
    MARKER,
    # Marker knobs that are not ``EmulatorConfig`` fields.
    extra_knobs=frozenset({"faults", "rate_limit_per_minute", "poll_interval", "max_interval"}),
    config_type=EmulatorConfig,
    defaults=TUTORFLOW_EMULATOR_DEFAULTS,
    fault_type=Fault,
    fault_name="tutorflow_async.testing.Fault",
    description="configure the tutorflow_emulator fixture and the sessions on it. "
    "Knobs: any tutorflow_async.testing.EmulatorConfig field (queued_seconds, "
    "processing_seconds, failure_rate, seed, rate_limit_window, webhook_*, final_status, "
    "status_case, result_lag_seconds, result_lag_status, ...), "
    "faults=[Fault(...)] (armed when the test body starts), rate_limit_per_minute "
    "(of the key and the content session), poll_interval and max_interval (of the "
    f"content session's waits). Defaults: {dict(TUTORFLOW_EMULATOR_DEFAULTS)}.",
)
pytest_configure: Final = _MARKER.pytest_configure
pytest_runtest_call: Final = _MARKER.pytest_runtest_call


@attrs.frozen
class TutorFlowMarkerOptions:
    """What the ``tutorflow_emulator`` markers of one test ask for, checked."""

    config: EmulatorConfig
    faults: tuple[Fault, ...]
    rate_limit_per_minute: int
    poll_interval: float
    max_interval: float


def marker_options(node: pytest.Item) -> TutorFlowMarkerOptions:
    """The merged ``@pytest.mark.tutorflow_emulator`` knobs of ``node`` over the defaults.

    A bad knob fails the test with a message naming it (``pytest.fail``, no traceback).
    """
    knobs = _MARKER.knobs(node)
    faults = _MARKER.faults(knobs.pop("faults"))
    rate = knobs.pop("rate_limit_per_minute")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        _MARKER.usage(f"rate_limit_per_minute must be an int >= 1, got {rate!r}")
    intervals = {name: knobs.pop(name) for name in ("poll_interval", "max_interval")}
    for name, value in intervals.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            _MARKER.usage(f"{name} must be a number > 0, got {value!r}")
    if intervals["max_interval"] < intervals["poll_interval"]:
        _MARKER.usage("max_interval must not be shorter than poll_interval")
    config = _MARKER.config(knobs)
    return TutorFlowMarkerOptions(
        config=config,
        faults=faults,
        rate_limit_per_minute=rate,
        poll_interval=float(intervals["poll_interval"]),
        max_interval=float(intervals["max_interval"]),
    )


@async_fixture
async def tutorflow_emulator(request: pytest.FixtureRequest) -> AsyncIterator[TutorFlowEmulator]:
    """A TutorFlow emulator on 127.0.0.1, configured by ``@pytest.mark.tutorflow_emulator``.

    Closed after the test. Its ``counters``, ``requests`` and ``jobs_per_idempotency_key()``
    tell what the code under test did.
    """
    options = marker_options(request.node)
    async with TutorFlowEmulator(options.config) as emulator:
        _MARKER.hold(request.node, emulator, options.faults)
        yield emulator


@pytest.fixture
def tutorflow_api_key(
    request: pytest.FixtureRequest, tutorflow_emulator: TutorFlowEmulator
) -> IssuedKey:
    """A Content API key of the emulator's organization, named ``pytest``.

    Its limit is the marker's ``rate_limit_per_minute`` (default 6000).
    """
    rate = marker_options(request.node).rate_limit_per_minute
    return tutorflow_emulator.create_api_key(name="pytest", rate_limit_per_minute=rate)


@async_fixture
async def tutorflow_content_session(
    request: pytest.FixtureRequest,
    tutorflow_emulator: TutorFlowEmulator,
    tutorflow_api_key: IssuedKey,
) -> AsyncIterator[tf.ContentSession]:
    """A :class:`~tutorflow_async.ContentSession` on ``tutorflow_api_key``, closed after.

    Its limiter runs at the key's limit, as a real deployment would configure it, and its
    waits poll at the marker's ``poll_interval``/``max_interval``. Build your own from
    ``tutorflow_emulator.base_url`` and ``tutorflow_api_key.api_key`` for other settings.
    """
    async with _content_session(request, tutorflow_emulator, tutorflow_api_key) as session:
        yield session


@async_fixture
async def tutorflow_admin_session(
    tutorflow_emulator: TutorFlowEmulator,
) -> AsyncIterator[tf.AdminSession]:
    """An :class:`~tutorflow_async.AdminSession` logged in as the emulator's admin.

    The organization is passed explicitly so a ``$TUTORFLOW_ORGANIZATION_ID`` in the
    environment cannot point the session at another organization. Closed after the test.
    """
    async with tf.AdminSession.login(
        tutorflow_emulator.admin_email,
        tutorflow_emulator.admin_password,
        organization_id=tutorflow_emulator.organization_id,
        base_url=tutorflow_emulator.base_url,
    ) as admin:
        yield admin


@async_fixture
async def tutorflow_webhook_receiver(
    tutorflow_emulator: TutorFlowEmulator,
    tutorflow_admin_session: tf.AdminSession,
) -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver on 127.0.0.1 that the emulator delivers to, verified and ready.

    Served on a free port, registered with the emulator for ``content.completed`` and
    ``content.failed`` (as :meth:`~tutorflow_async.admin_resources.Webhooks.create`
    would in production), and given the webhook's signing secret. Its ``counters`` say
    what arrived (``accepted``, ``duplicates``, ``rejected``); ``async for event in
    receiver`` reads the events. The webhook is deleted and the receiver closed after.
    """
    async with (
        WebhookReceiver("not-known-yet") as receiver,
        receiver.serve(port=0) as url,
    ):
        hook = await tutorflow_admin_session.webhooks.create(url)
        receiver.set_secret(hook.secret)
        try:
            yield receiver
        finally:
            await tutorflow_admin_session.webhooks.delete(hook.id)


@async_fixture
async def tutorflow_webhook_session(
    request: pytest.FixtureRequest,
    tutorflow_emulator: TutorFlowEmulator,
    tutorflow_api_key: IssuedKey,
    tutorflow_webhook_receiver: WebhookReceiver,
) -> AsyncIterator[tf.ContentSession]:
    """Like ``tutorflow_content_session``, with ``tutorflow_webhook_receiver`` attached.

    Its waits end when the emulator's delivery arrives; polling stays as the fallback for
    lost events, first after ``fallback_interval`` (60 s by default), so a wait that ends
    quickly was ended by the webhook.
    """
    async with _content_session(
        request, tutorflow_emulator, tutorflow_api_key, webhooks=tutorflow_webhook_receiver
    ) as session:
        yield session


def _content_session(
    request: pytest.FixtureRequest,
    emulator: TutorFlowEmulator,
    key: IssuedKey,
    *,
    webhooks: WebhookReceiver | None = None,
) -> tf.ContentSession:
    """A content session on ``key`` with the marker's rate and poll intervals."""
    options = marker_options(request.node)
    return tf.ContentSession(
        key.api_key,
        base_url=emulator.base_url,
        rate_limit_per_minute=options.rate_limit_per_minute,
        poll_interval=options.poll_interval,
        max_interval=options.max_interval,
        webhooks=webhooks,
    )
