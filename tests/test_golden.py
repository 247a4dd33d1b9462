"""Refactorings keep the numbers: tiny CLI runs against scripts/golden/*.json.

The stored files were recorded with `python scripts/golden.py --record` on the
code before issue 17's restructuring; the same config and seed must give the
same metrics, parameter counts and history, exactly.
"""

from __future__ import annotations

import importlib.util

import pytest

from .conftest import ROOT


def _golden():
    spec = importlib.util.spec_from_file_location(
        "golden", ROOT / "scripts" / "golden.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_reports_a_changed_number():
    golden = _golden()
    old = {
        "jobs": {"0": {"metrics": {"kl": {"mean": 0.5}}, "history": [{"kl": "0.1"}]}}
    }
    new = {
        "jobs": {
            "0": {"metrics": {"kl": {"mean": 0.5}}, "history": [{"kl": "0.1000001"}]}
        }
    }
    assert golden.compare(old, old, 0.0) == []
    assert golden.compare(old, new, 0.0) == [
        "/jobs/0/history[0]/kl: '0.1' != '0.1000001'"
    ]
    assert golden.compare(old, new, 1e-5) == []


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(_golden().CASES))
def test_same_numbers_as_recorded(case, capsys):
    assert _golden().main(["--cases", case]) == 0, capsys.readouterr().out
