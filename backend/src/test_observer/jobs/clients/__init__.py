"""Small clients for the services the jobs read: each returns plain data or raises
`UnavailableError` with a one-line reason."""
