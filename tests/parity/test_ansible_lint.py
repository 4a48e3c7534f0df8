"""The roles and playbooks pass ansible-lint at its strictest shared profile (production, .ansible-lint)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.parity
REPO = Path(__file__).resolve().parents[2]


def test_roles_and_playbooks_pass_ansible_lint_production():
    lint = subprocess.run([str(Path(sys.executable).parent / "ansible-lint"), "--nocolor"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-2000:]
    assert "Profile 'production' was required, and it passed" in lint.stderr + lint.stdout
