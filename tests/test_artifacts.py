"""Artifact writing: atomic, and readable as the user's umask allows."""

import os
import stat

import pytest

from genbench.artifacts import atomic_write, write_json


@pytest.mark.parametrize(
    ("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)]
)
def test_files_get_the_umask_mode(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        write_json(tmp_path / "sub" / "m.json", {"kl": 0.5})
    finally:
        os.umask(old)
    for path in (tmp_path / "a.txt", tmp_path / "sub" / "m.json"):
        assert stat.S_IMODE(path.stat().st_mode) == mode
    assert (tmp_path / "a.txt").read_text() == "x"
    # no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "sub"]
