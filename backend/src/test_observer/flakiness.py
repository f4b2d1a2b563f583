"""What makes a test case flaky in an environment: the flaky-test list's thresholds.

The flaky-test list (`GET /v1/test-cases/flaky`) lists pairs with these defaults, and the
comparison of an artefact with its base flags a result as flaky by the same rule, so that a
result is "flaky" in one place exactly when the list shows it by default.
"""

from datetime import timedelta

# Runs (PASSED or FAILED results) count within this window, ending now.
WINDOW = timedelta(days=30)
# A pair needs this many runs in the window to be judged at all...
MIN_RUNS = 5
# ...and this many status changes between consecutive runs: one is a regression or a fix.
MIN_FLIPS = 2
