#!/usr/bin/env python3
"""Entry point that Juju dispatches every hook to."""

import ops
from test_observer_charm.charm import TestObserverCharm

if __name__ == "__main__":
    ops.main(TestObserverCharm)
