"""Background jobs: artefact promotion, issue synchronisation, kernel SRU dates, housekeeping.

Each job is a module with a `run` function; `registry.py` names them, `queue.py` runs them on
the PostgreSQL job queue (procrastinate) and `clients/` talks to the outside services.
"""
