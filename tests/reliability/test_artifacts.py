import errno
import os

import pytest

from loralab.artifacts import atomic_open, read_json, write_json


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(path) as fh:
        fh.write('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert read_json(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["out.json"]


def test_disk_full_on_write_leaves_nothing_that_looks_finished(tmp_path, monkeypatch):
    path = tmp_path / "new.json"

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_json(path, {"v": 1})
    assert os.listdir(tmp_path) == []
