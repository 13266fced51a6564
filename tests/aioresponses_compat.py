"""aioresponses 0.7.9 builds ``ClientResponse`` without the ``stream_writer`` argument
aiohttp 3.14 requires (upstream: pnuckowski/aioresponses#289, fix pending in #288).

aiohttp only reads ``stream_writer.output_size``, so until a fixed release exists the
``mocked`` fixture swaps in a response class that supplies a stand-in. On aiohttp < 3.14
the parameter does not exist and nothing is added.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import aiohttp

_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(aiohttp.ClientResponse).parameters


class CompatClientResponse(aiohttp.ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER and "stream_writer" not in kwargs:
            kwargs["stream_writer"] = SimpleNamespace(output_size=0)
        super().__init__(*args, **kwargs)
