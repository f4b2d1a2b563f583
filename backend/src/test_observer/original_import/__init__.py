"""Import a database of the original Test Observer."""
