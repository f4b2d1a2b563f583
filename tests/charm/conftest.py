from __future__ import annotations

import pytest
from ops import testing
from test_observer_charm.charm import TestObserverCharm

from .states import make_context


@pytest.fixture
def ctx() -> testing.Context[TestObserverCharm]:
    return make_context()
