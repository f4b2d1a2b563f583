"""The Test Observer API charm."""
