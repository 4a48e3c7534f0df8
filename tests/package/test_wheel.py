"""govmail as an operator installs it without a checkout: a wheel built from the tree, installed into a
fresh virtual environment, renders every profile (templates and profiles ship inside the package)."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from govmail.model.profile import known_provinces

pytestmark = pytest.mark.package
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The fresh environment's bin/ with the wheel installed (its dependencies from the package index)."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(REPO)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel, = (work / "dist").glob("govmail-*.whl")
    venv.create(work / "env", with_pip=True)
    pip = subprocess.run([str(work / "env/bin/pip"), "install", "-q", str(wheel)], capture_output=True, text=True,
                         timeout=900)
    assert pip.returncode == 0, pip.stderr
    return work / "env/bin"


def test_the_wheel_holds_the_templates_and_profiles_not_the_checkout(installed, tmp_path):
    where = subprocess.run([str(installed / "python"), "-c", "import govmail.build.render as r, govmail.model.profile as p;"
                            "print(r.__file__); print(r.TEMPLATES_DIR); print(p.PROFILES_DIR)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert str(REPO) not in line and "site-packages" in line, line


@pytest.mark.parametrize("province", known_provinces())
def test_the_installed_command_renders_every_profile(installed, tmp_path, province):
    out = subprocess.run([str(installed / "govmail"), "render", "--province", province, "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(written) == len(out.stdout.splitlines()) > 50
    assert "Managed by govmail" in (tmp_path / "out/etc/postfix/main.cf").read_text()
