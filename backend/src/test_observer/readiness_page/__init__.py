"""The readiness page: an artefact's verdict, matrix and regressions on one printable page."""
