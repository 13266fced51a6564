"""Webhooks: verify a delivery's signature, read its payload, receive deliveries.

TutorFlow posts ``content.completed`` and ``content.failed`` events to the URLs registered
with ``AdminSession.webhooks.create``, each signed with the hex HMAC-SHA256 of its raw
body. The package keeps three concerns apart, so the decisions can be tested without a
server:

- :mod:`~tutorflow_async.webhooks.signature` (pure): :func:`compute_signature` and
  :func:`verify_signature` (constant time, never raises on a bad header);
- :mod:`~tutorflow_async.webhooks.delivery` (pure): :func:`parse_delivery`, the tolerant
  reader of a body into a :class:`WebhookDelivery`, and :class:`WebhookPayloadError`;
- :mod:`~tutorflow_async.webhooks.receiver` (the only one importing aiohttp):
  :class:`WebhookReceiver` (verify, parse, de-duplicate, dispatch; ``receive()`` plus
  the aiohttp ``handler()``, ``app()`` and ``serve()``), :class:`WebhookCounters`,
  :class:`WebhookVerdict` and :data:`EventCallback`;
- :mod:`~tutorflow_async.webhooks.fleet`: :class:`FleetWebhookEvents`, which shares every
  process's terminal events with the waits of a whole fleet through an event bus.

Every name is re-exported here, so ``from tutorflow_async.webhooks import ...`` does not
depend on the split. To replace a function in tests, patch it in the module that calls
it (``verify_signature`` as the receiver uses it lives in ``receiver``'s namespace), not
here.
"""

from __future__ import annotations

# ``DeliveryKey`` and ``logger`` (the package logger, ``getLogger("tutorflow_async")``)
# stay importable from here as before the split, outside __all__ as they were.
from .delivery import DeliveryKey as DeliveryKey
from .delivery import WebhookDelivery, WebhookPayloadError, parse_delivery
from .fleet import FleetWebhookEvents
from .receiver import EventCallback, WebhookCounters, WebhookReceiver, WebhookVerdict
from .receiver import logger as logger
from .signature import compute_signature, verify_signature

__all__ = [
    "EventCallback",
    "FleetWebhookEvents",
    "WebhookCounters",
    "WebhookDelivery",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookVerdict",
    "compute_signature",
    "parse_delivery",
    "verify_signature",
]
