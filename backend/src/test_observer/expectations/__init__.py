"""What is expected of an artefact, below both the artefacts and the declarations of expected
environments: which environments it must have run, and which of them it has not."""
