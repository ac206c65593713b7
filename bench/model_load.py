"""Loading the base model: the GGUF file read each time against its converted copy in the cache.

Times `load_base` three ways in one process, on the default params: reading the GGUF file
(what every trial and evaluation did before the conversion cache), the first load with an empty
cache (reads the GGUF file and keeps the conversion), and a later load from the cache. Prints
seconds per load and the converted folder's size on disk.
Run: `.venv/bin/python bench/model_load.py [--params params/default.yaml]`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from loralab.config import load_config
from loralab.environment import cpu_kind
from loralab.model import loading as models
from loralab.model.loading import load_base
from loralab.run.cli import params_options


def timed(cfg) -> float:
    t0 = time.perf_counter()
    load_base(cfg)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    args = parser.parse_args()
    cfg = load_config(args.params, args.set)
    print(f"CPU: {cpu_kind()}; model {cfg.model.name_or_path}")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["LORALAB_CACHE"] = cache
        with mock.patch.object(models, "_readable", lambda cfg, source, part: source):
            timed(cfg)  # warm-up: imports, the OS's file cache
            direct = timed(cfg)
        first = timed(cfg)
        later = timed(cfg)
        size = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file())
    print(f"GGUF file read at every load:  {direct:6.2f} s")
    print(f"first load, converting:        {first:6.2f} s")
    print(f"later loads, from the cache:   {later:6.2f} s ({direct / later:.0f}x faster)")
    print(f"converted copy on disk: {size / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
