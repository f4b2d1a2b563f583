"""Test Observer: where CI systems report test results and reviewers sign artefacts off."""
