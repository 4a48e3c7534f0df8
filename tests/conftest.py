import warnings
from pathlib import Path

import pytest

from govmail.profile import load_profile

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture
def profile():
    def _load(province):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_profile(province)
    return _load
