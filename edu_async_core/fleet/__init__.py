"""Fleet coordinators: one credential's rate limit, retry budget and 429 pauses shared by
many processes (see :class:`~edu_async_core.limits.Fleet`).

Each backend lives in its own module and imports its client library itself, so importing
this package (or the core) never needs one: ``from edu_async_core.fleet.redis import
RedisFleet`` needs the ``[redis]`` extra.
"""
