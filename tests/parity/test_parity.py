"""Both engines, one result: every file govmail puts on a mail host (templates and TLS material), for every
profile, rendered through Ansible (the lookup plugin and the copy module, as the roles use them) and
through the path pyinfra's deploy.py uploads from, compared byte for byte. No host is needed.

The copy module writes each file for the lab inventory's province; for the others the content the roles'
variables hold is compared (one JSON file): what the copy module does with it depends on no province, and
a copy per file costs a second each, 7 minutes of every CI run for all profiles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govmail.build import components
from govmail.model import settings
from govmail.model.profile import known_provinces

pytestmark = pytest.mark.parity
REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "lab"


@pytest.mark.parametrize("province", known_provinces())
def test_ansible_and_pyinfra_render_the_same_bytes(province, tmp_path):
    written_by_copy = province == settings.load_inventory(INVENTORY).province
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run([str(playbook), "playbooks/render.yml", "-e", f"out={tmp_path}", "-e",
                          f"province={province}", "-e", f"as_json={not written_by_copy}"], cwd=REPO,
                         capture_output=True, text=True,
                         env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    expected = components.host_files(settings.load(province, INVENTORY))
    if written_by_copy:
        written = {"/" + str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    else:
        held = json.loads((tmp_path / "files.json").read_text(encoding="utf-8"))
        written = {path: content.encode() for path, content in held.items()}
    assert set(written) == set(expected)
    for path, content in expected.items():
        assert written[path] == content.encode(), path
