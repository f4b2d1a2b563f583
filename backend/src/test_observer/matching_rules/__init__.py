"""Artefact matching rules: which teams review, and may act on, which artefacts."""
