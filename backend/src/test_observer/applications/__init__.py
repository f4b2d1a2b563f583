"""Machine clients (CI systems) and their API keys."""
