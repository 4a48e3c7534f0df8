import os
import tempfile
import warnings
from pathlib import Path

import pytest

from govmail.profile import load_profile

# Secrets made while rendering in tests go to a throwaway store, never the operator's.
os.environ.setdefault("GOVMAIL_SECRETS", tempfile.mkdtemp(prefix="govmail-test-secrets-"))


@pytest.fixture
def profile():
    def _load(province):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_profile(province)
    return _load
