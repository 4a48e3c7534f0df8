"""Under CI a missing prerequisite fails the run; elsewhere it is a skip, and deliberate skips stay skips."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SAMPLE = '''
import pytest
missing = pytest.importorskip("no_such_module_anywhere", reason="unavailable here: a library")

def test_never_runs():
    pass
'''
RUNTIME = '''
import pytest

def test_needs_a_driver():
    pytest.skip("unavailable here: no driver")

def test_drilled_elsewhere():
    pytest.skip("drilled once, in the first suite")
'''


def run_pytest(tmp_path: Path, source: str, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(TESTS), "CI": "true" if ci else "false"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_skips", "-q", "-rs", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path)


@pytest.mark.parametrize("source", [SAMPLE, RUNTIME])
def test_missing_prerequisites_fail_under_ci_only(tmp_path, source):
    elsewhere = run_pytest(tmp_path, source, ci=False)
    assert elsewhere.returncode in (0, 5) and "skipped" in elsewhere.stdout      # 5: nothing left to run
    under_ci = run_pytest(tmp_path, source, ci=True)
    assert under_ci.returncode in (1, 2) and "unavailable here" in under_ci.stdout, under_ci.stdout


def test_deliberate_skips_stay_skips_under_ci(tmp_path):
    out = run_pytest(tmp_path, RUNTIME, ci=True).stdout
    assert "1 failed, 1 skipped" in out, out


def test_test_files_have_unique_names():
    """pytest imports test files by their base name (no packages under tests/): two files of one name stop the
    whole run at collection, as two test_backup.py and two test_logging.py once did."""
    names = [p.name for p in Path(__file__).resolve().parents[1].rglob("test_*.py")]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
