"""The GGUF conversion cache: converted once, reused, rebuilt when the file changes, never
half-written, and a cache that cannot be written costs only time."""

from __future__ import annotations

import threading

import pytest
import torch

from loralab.model import gguf_cache
from loralab.model.gguf_cache import RECORD, converted


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch, tiny_model_dir):
    """A stand-in GGUF file whose 'conversion' copies the tiny model's folder, counted."""
    import shutil

    gguf = tmp_path / "src" / "model.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF version one")
    calls = []

    def convert(path, part, out, trust_remote_code):
        calls.append(part)
        shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)

    monkeypatch.setattr(gguf_cache, "_convert", convert)
    monkeypatch.setenv("LORALAB_CACHE", str(tmp_path / "cache"))
    return gguf, calls


def test_a_part_is_converted_once_and_again_when_the_file_changes(fake_gguf):
    gguf, calls = fake_gguf
    first = converted(gguf, "weights")
    assert (first / RECORD).is_file() and (first / "config.json").is_file()
    assert converted(gguf, "weights") == first and calls == ["weights"]
    assert converted(gguf, "tokenizer") != first and calls == ["weights", "tokenizer"]
    gguf.write_bytes(b"GGUF version two")
    assert converted(gguf, "weights") != first and calls.count("weights") == 2
    leftovers = [p for p in first.parent.parent.rglob(".tmp-*")]
    assert not leftovers


def test_a_failed_conversion_leaves_nothing_and_the_gguf_file_is_read(fake_gguf, monkeypatch):
    gguf, _ = fake_gguf

    def broken(path, part, out, trust_remote_code):
        (out / "model.safetensors").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(gguf_cache, "_convert", broken)
    with pytest.warns(UserWarning, match="No space left.*LORALAB_CACHE"):
        assert converted(gguf, "weights") is None
    models = gguf.parent.parent / "cache" / "models"
    assert not [p for p in models.rglob("*") if p.is_file()]


def test_an_unwritable_cache_warns_with_the_fix(fake_gguf, monkeypatch, tmp_path):
    gguf, calls = fake_gguf
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LORALAB_CACHE", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="LORALAB_CACHE to a writable folder"):
        assert converted(gguf, "weights") is None
    assert calls == []


def test_processes_converting_at_once_both_get_the_finished_folder(fake_gguf, monkeypatch):
    """The second conversion finishes after the first was renamed into place: it is dropped."""
    gguf, _ = fake_gguf
    inner = gguf_cache._convert
    both_started = threading.Barrier(2)

    def slow(path, part, out, trust_remote_code):
        both_started.wait(timeout=10)
        inner(path, part, out, trust_remote_code)

    monkeypatch.setattr(gguf_cache, "_convert", slow)
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(converted(gguf, "weights"))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] == got[1] and (got[0] / RECORD).is_file()
    assert not list(got[0].parent.glob(".tmp-*"))


def test_an_unknown_part_is_refused(fake_gguf):
    with pytest.raises(ValueError, match="weights"):
        converted(fake_gguf[0], "optimizer")


@pytest.mark.slow
def test_the_embedded_model_converted_equals_the_gguf_file(tmp_path, monkeypatch):
    """Same weights bit for bit, same token ids and chat template as reading the GGUF file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from loralab.config import Config, ModelConfig
    from loralab.data.sources import load_raw
    from loralab.model.loading import resolve_model

    monkeypatch.setenv("LORALAB_CACHE", str(tmp_path))
    source = resolve_model(ModelConfig())
    gguf = {"gguf_file": source.gguf_file}
    direct = AutoModelForCausalLM.from_pretrained(source.name_or_path, dtype=torch.float32, **gguf)
    kept = AutoModelForCausalLM.from_pretrained(
        converted(source.gguf_path, "weights"), dtype=torch.float32
    )
    a, b = direct.state_dict(), kept.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    tok = AutoTokenizer.from_pretrained(source.name_or_path, **gguf)
    tok2 = AutoTokenizer.from_pretrained(converted(source.gguf_path, "tokenizer"))
    texts = load_raw(Config().data).frame["text"].sample(300, random_state=0).tolist()
    texts += ["Non-small cell lung cancer (NSCLC): 1,204 patients; p<0.05.", "  two  spaces\n"]
    assert [tok(t)["input_ids"] for t in texts] == [tok2(t)["input_ids"] for t in texts]
    assert tok.chat_template == tok2.chat_template and len(tok) == len(tok2)
