"""People who review artefacts; they sign in through the browser."""
