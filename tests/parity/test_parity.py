"""Both engines, one result: every file govmail puts on a mail host (templates and TLS material), for every
profile, rendered through Ansible (the lookup plugin and the copy module, as the roles use them) and
through the path pyinfra's deploy.py uploads from, compared byte for byte. No host is needed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from govmail import components, settings
from govmail.profile import known_provinces

pytestmark = pytest.mark.parity
REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "lab"


@pytest.mark.parametrize("province", known_provinces())
def test_ansible_and_pyinfra_render_the_same_bytes(province, tmp_path):
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run([str(playbook), "playbooks/render.yml", "-e", f"out={tmp_path}", "-e",
                          f"province={province}"], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    expected = components.host_files(settings.load(province, INVENTORY))
    written = {"/" + str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(expected)
    for path, content in expected.items():
        assert (tmp_path / path.lstrip("/")).read_bytes() == content.encode(), path
