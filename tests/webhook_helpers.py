"""Test helper: a webhook receiver served on 127.0.0.1 and registered with TutorFlow."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import tutorflow_async as tf
from tutorflow_async.webhooks import WebhookReceiver


@contextlib.asynccontextmanager
async def hooked_receiver(
    admin: tf.AdminSession, **kwargs: Any
) -> AsyncIterator[tuple[WebhookReceiver, str]]:
    """A served receiver registered through AdminSession, with the webhook's real secret.

    The secret only exists once the webhook is created, which needs the URL: serve with
    a placeholder secret, create the webhook, then set the secret it revealed.
    """
    async with (
        WebhookReceiver("whsec_placeholder_until_created", **kwargs) as receiver,
        receiver.serve() as url,
    ):
        hook = await admin.webhooks.create(url, events=["content.completed", "content.failed"])
        receiver.set_secret(hook.secret)
        yield receiver, hook.secret.reveal()
