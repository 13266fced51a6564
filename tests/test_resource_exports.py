"""The resource classes sessions hand out are importable from the package roots.

Users annotate with them (``def sync(keys: tf.ApiKeys) -> None``), so each must be in its
package's ``__all__`` and be the very type of the session attribute, not a look-alike.
"""

from __future__ import annotations

import pytest

import nexttech_async as nt
import tutorflow_async as tf

#: Session attribute -> the class exported for it.
CONTENT_ATTRIBUTES = {"expansions": "Expansions", "poller": "ExpansionPoller"}
ADMIN_ATTRIBUTES = {"api_keys": "ApiKeys", "webhooks": "Webhooks", "exports": "Exports"}
NEXTTECH_ATTRIBUTES = {"contents": "Listing", "grades": "Listing"}

#: A URL nothing listens on: building a session sends no request.
NOWHERE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("package", "name"),
    [(tf, name) for name in [*CONTENT_ATTRIBUTES.values(), *ADMIN_ATTRIBUTES.values()]]
    + [(nt, name) for name in NEXTTECH_ATTRIBUTES.values()],
)
def test_resource_class_is_exported(package: object, name: str) -> None:
    assert name in package.__all__  # type: ignore[attr-defined]
    assert isinstance(getattr(package, name), type)


async def test_content_session_attributes_have_the_exported_types() -> None:
    async with tf.ContentSession("tf_content_test", base_url=NOWHERE) as session:
        for attribute, name in CONTENT_ATTRIBUTES.items():
            assert type(getattr(session, attribute)) is getattr(tf, name), attribute
        assert isinstance(session.expansions, tf.Expansions)


async def test_admin_session_attributes_have_the_exported_types() -> None:
    async with tf.AdminSession("jwt-test", base_url=NOWHERE) as admin:
        for attribute, name in ADMIN_ATTRIBUTES.items():
            assert type(getattr(admin, attribute)) is getattr(tf, name), attribute


async def test_nexttech_session_attributes_have_the_exported_types() -> None:
    async with nt.NextTechSession("token", "secret", base_url=NOWHERE) as session:
        for attribute, name in NEXTTECH_ATTRIBUTES.items():
            assert type(getattr(session, attribute)) is getattr(nt, name), attribute
