"""A GGUF file read once: its weights and tokenizer kept as a plain transformers folder.

transformers dequantizes a GGUF file at every `from_pretrained`: 12 s for the embedded 135M
model on 2 cores, and 3 s more for its tokenizer, paid again by every trial and by evaluation.
The converted parts (float32 weights, exactly the dequantized values, in safetensors; the
tokenizer) are kept in the loralab cache, keyed by the file's content and the transformers
version that converted it, and load in a fraction of a second. The weights part takes about 4
bytes per parameter of disk (520 MB for the embedded model).

A part appears by an atomic rename only once complete, so processes that convert at the same
time (trials run with --jobs) never read half a folder. A cache that cannot be written costs
only time: the GGUF file is then read as before, with a warning that says how to fix it.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import tempfile
import warnings
from pathlib import Path

from loralab.artifacts import cache_dir, write_json

PARTS = ("weights", "tokenizer")
RECORD = "converted-from.json"  # written last inside a part: what it was converted from


def converted(gguf: Path, part: str, trust_remote_code: bool = False) -> Path | None:
    """The folder holding `part` of `gguf` converted, made on first use; None where the cache
    cannot be written (the caller then reads the GGUF file itself)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    gguf = gguf.resolve()
    stat = gguf.stat()
    key = _content_key(str(gguf), stat.st_size, stat.st_mtime_ns)
    folder = cache_dir() / "models" / f"{gguf.stem}-{key}" / part
    if (folder / RECORD).is_file():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".tmp-{part}-"))
    except OSError as exc:
        _warn(gguf, folder, exc)
        return None
    try:
        _convert(gguf, part, work, trust_remote_code)
        write_json(work / RECORD, {"gguf": str(gguf), "bytes": stat.st_size, "key": key})
        try:
            work.rename(folder)
        except OSError:
            if not (folder / RECORD).is_file():  # not another process's finished copy
                raise
    except OSError as exc:
        _warn(gguf, folder, exc)
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


@functools.lru_cache(maxsize=8)
def _content_key(path: str, size: int, mtime_ns: int) -> str:
    """The file's content hash with the converting transformers version; memoized per process
    by path, size and mtime (hashing 100 MB takes a tenth of a second)."""
    import transformers

    h = hashlib.sha256(f"transformers {transformers.__version__}\n".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _convert(gguf: Path, part: str, out: Path, trust_remote_code: bool) -> None:
    """Read `part` from the GGUF file as transformers does, and save it as a plain folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name, "trust_remote_code": trust_remote_code}
    if part == "tokenizer":
        AutoTokenizer.from_pretrained(gguf.parent, **kwargs).save_pretrained(out)
        return
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    # The weights are plain tensors now; the GGUF quantizer only blocks saving them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)


def _warn(gguf: Path, folder: Path, exc: OSError) -> None:
    warnings.warn(
        f"could not keep the converted {folder.name} of {gguf} in {folder.parent} ({exc}); the "
        "GGUF file is read (and dequantized) at every load instead. Fix: set LORALAB_CACHE to a "
        "writable folder with about 4 bytes per parameter free",
        stacklevel=3,
    )
