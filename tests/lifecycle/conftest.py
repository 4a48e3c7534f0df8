"""A real slapd per province on loopback, configured from the files a deploy puts on a host."""

import os
import warnings

import pytest

from govmail.accounts import directory
from govmail.accounts.lifecycle import Lifecycle
from govmail.build.secretstore import Secrets, store_dir
from govmail.lab import localslapd
from govmail.model import settings


@pytest.fixture(scope="session")
def slapd_for():
    if os.geteuid() != 0:
        pytest.skip("unavailable here: the local slapd runs chrooted in the lab's root filesystem: needs root")
    started = {}

    def _start(province, purpose="shared"):
        """One directory per province and purpose; its secrets where `govmail --province P` finds them."""
        if (province, purpose) not in started:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = settings.load(province)
            secrets = Secrets(store_dir(province))
            started[province, purpose] = localslapd.start(s, secrets)
        return started[province, purpose]
    yield _start
    for instance in started.values():
        instance.stop()


@pytest.fixture
def lifecycle_for(slapd_for):
    """A Lifecycle bound to a province's directory, as `govmail account` builds one."""
    def _make(province, operator="test-operator", clock=directory.now, purpose="shared"):
        instance = slapd_for(province, purpose)
        conn = directory.connect(instance.settings, instance.url)
        return Lifecycle(instance.settings, conn, operator, clock)
    return _make
