"""Both engines, one result: every file govmail puts on a mail host (templates and TLS material), for every
profile, rendered through Ansible (the lookup plugin and the writer, as the roles use them) and through the
path pyinfra's deploy.py uploads from, compared byte for byte. No host is needed.

The lab inventory is read from a copy taken once, without its hosts.yml (a single node): the lab suites
running beside this one rewrite it (`govmail lab up` its hosts.yml, test_abuse a short lockout override in
govmail.yml), and both engines must read the same bytes. The example on several hosts (inventories/cluster:
directory, store, backup and monitor hosts) is compared too, so the files only those hosts get are."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from govmail.build import components
from govmail.model import settings
from govmail.model.profile import known_provinces

pytestmark = pytest.mark.parity
REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventories" / "lab"
CLUSTER = REPO / "inventories" / "cluster"


@pytest.fixture(scope="module", autouse=True)
def own_secrets(tmp_path_factory):
    """Both engines make and read the same throwaway secret store (CA, keys), not the operator's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVMAIL_SECRETS", str(tmp_path_factory.mktemp("secrets")))
        yield


@pytest.fixture(scope="module")
def single_node(tmp_path_factory) -> Path:
    """The lab inventory's govmail.yml and the files it names, without hosts.yml."""
    copy = tmp_path_factory.mktemp("parity") / "single-node"
    shutil.copytree(LAB, copy, ignore=shutil.ignore_patterns("hosts.yml", "*.py", "__pycache__"))
    return copy


@pytest.mark.parametrize("province", known_provinces())
def test_ansible_and_pyinfra_render_the_same_bytes(province, single_node, tmp_path):
    compare(single_node, province, tmp_path)


# The mail host, and a store host (whose backups are its own: their files differ from the mail host's).
@pytest.mark.parametrize("host", ["", "node2.danang.gov.vn"])
def test_both_engines_render_the_same_bytes_for_several_hosts(host, tmp_path):
    compare(CLUSTER, "", tmp_path, host)


def compare(inventory: Path, province: str, tmp_path: Path, host: str = "") -> None:
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run([str(playbook), "playbooks/render.yml", "-e", f"out={tmp_path}", "-e",
                          f"province={province}", "-e", f"govmail_inventory={inventory}", "-e", f"render_host={host}"],
                         cwd=REPO,
                         capture_output=True, text=True,
                         env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    expected = components.host_files(settings.load(province or None, inventory), host or None)
    written = {"/" + str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert set(written) == set(expected)
    for path, content in expected.items():
        assert written[path] == content.encode(), path
