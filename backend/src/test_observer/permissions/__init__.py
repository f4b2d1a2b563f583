"""The named permissions operations require."""
