"""Cost of the data step on the embedded corpus: full XML parse against the cached table.

Prints the time of each, the peak memory of the parse, and the speedup of the cache as its last
line. Run: `.venv/bin/python bench/data_step.py`.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time

from loralab.config import PUBMED_FILES


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["LORALAB_CACHE"] = cache
        from loralab.data.pubmed import load_pubmed

        t0 = time.perf_counter()
        frame, _ = load_pubmed(list(PUBMED_FILES), 30)
        parse = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        cached, _ = load_pubmed(list(PUBMED_FILES), 30)
        read = time.perf_counter() - t0
    assert cached.equals(frame), "cached table differs from the parsed one"
    print(f"records labelled: {len(frame)}")
    print(f"parse both XML files: {parse:.2f} s (peak RSS {peak_mb:.0f} MB)")
    print(f"read cached table:    {read:.3f} s")
    print(f"cache speedup: {parse / read:.0f}x")


if __name__ == "__main__":
    main()
