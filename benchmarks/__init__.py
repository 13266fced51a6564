"""Benchmarks of the SDKs, run side by side by ``python -m benchmarks`` (``nox -s bench``).

The machine they run on is shared and noisy, so every benchmark measures its variants in one
run, interleaved, and reports ratios as well as absolute figures. Each one is bounded in
count and in time and talks only to servers on 127.0.0.1 (started in another process by
:mod:`benchmarks.support`, so that the server's CPU is not counted as the client's).

Adding a benchmark: create ``benchmarks/<name>.py`` with one decorated function::

    from benchmarks.harness import Figures, Options, benchmark

    @benchmark("many_waits", "10,000 concurrent wait_for_expansion on one key")
    def run(options: Options) -> Figures:          # or ``async def``
        n = options.pick(full=10_000, quick=500)
        ...
        return {"waits": n, "table": [{"variant": "ours", "cpu ms": 1.2}], ...}

The harness imports every public module of this package, so nothing else needs editing.
``figures`` must be JSON-serialisable; an optional ``"table"`` entry (a list of row dicts)
is printed as the benchmark's markdown table, and the other scalar figures are listed below
it. See :mod:`benchmarks.harness` for the options and the results file.
"""
