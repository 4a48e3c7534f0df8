"""A lab host deployed by pyinfra's deploy.py for the lab inventory's province, once per session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

from govmail import lab, settings
from govmail.secrets import Secrets, store_dir

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "lab"
HOST = "mail1"


def pyinfra_deploy() -> subprocess.CompletedProcess:
    pyinfra = str(Path(sys.executable).parent / "pyinfra")
    return subprocess.run([pyinfra, "-y", "inventories/lab/inventory.py", "deploy.py"], cwd=REPO,
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="session")
def deployment():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    fresh = not lab.load_hosts()
    up = subprocess.run([sys.executable, "-m", "govmail.cli", "lab", "up", HOST], capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    first = pyinfra_deploy()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = pyinfra_deploy()
    assert second.returncode == 0, second.stderr[-3000:]
    yield {"first": first.stdout + first.stderr, "second": second.stdout + second.stderr,
           "host": lab.load_hosts()[HOST], "settings": settings.load(inventory_dir=INVENTORY),
           "secrets": Secrets(store_dir(str(INVENTORY)))}
    if fresh:
        subprocess.run([sys.executable, "-m", "govmail.cli", "lab", "destroy"], capture_output=True)


@pytest.fixture(scope="session")
def host(deployment):
    return testinfra.get_host(f"ssh://root@{deployment['host'].address}", ssh_identity_file=str(lab.ssh_key()),
                              ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
