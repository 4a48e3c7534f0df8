import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
import testinfra

from govmail import lab, settings
from govmail.profile import load_profile
from govmail.secrets import Secrets, store_dir

# Secrets made while rendering in tests go to a throwaway store, never the operator's.
os.environ.setdefault("GOVMAIL_SECRETS", tempfile.mkdtemp(prefix="govmail-test-secrets-"))


@pytest.fixture
def profile():
    def _load(province):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_profile(province)
    return _load


# ---- a lab host deployed by pyinfra's deploy.py, shared by tests/infra and tests/e2e ----


REPO = Path(__file__).resolve().parents[1]
INVENTORY = REPO / "inventories" / "lab"
HOST = "mail1"


# The province under test: the inventory's, or another one switched to with the single variable, exactly
# as an operator would (`pyinfra ... deploy.py --data province=danang`).
PROVINCE = os.environ.get("GOVMAIL_TEST_PROVINCE")


def pyinfra_deploy() -> subprocess.CompletedProcess:
    pyinfra = str(Path(sys.executable).parent / "pyinfra")
    switch = ["--data", f"province={PROVINCE}"] if PROVINCE else []
    return subprocess.run([pyinfra, "-y", "inventories/lab/inventory.py", "deploy.py", *switch], cwd=REPO,
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="session")
def deployment():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    fresh = not lab.load_hosts()
    up = subprocess.run([sys.executable, "-m", "govmail.cli", "lab", "up", HOST], capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    first = pyinfra_deploy()
    assert first.returncode == 0, first.stderr[-4000:] + first.stdout[-1500:]
    second = pyinfra_deploy()
    assert second.returncode == 0, second.stderr[-4000:] + second.stdout[-1500:]
    yield {"first": first.stdout + first.stderr, "second": second.stdout + second.stderr,
           "host": lab.load_hosts()[HOST], "settings": settings.load(PROVINCE, INVENTORY),
           "secrets": Secrets(store_dir(str(INVENTORY)))}
    if fresh:
        subprocess.run([sys.executable, "-m", "govmail.cli", "lab", "destroy"], capture_output=True)


@pytest.fixture(scope="session")
def host(deployment):
    return testinfra.get_host(f"ssh://root@{deployment['host'].address}", ssh_identity_file=str(lab.ssh_key()),
                              ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
