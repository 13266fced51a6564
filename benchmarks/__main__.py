"""``python -m benchmarks``: see :mod:`benchmarks.harness`."""

from benchmarks.harness import main

if __name__ == "__main__":  # spawned server processes import this module too
    raise SystemExit(main())
