"""Links to the web frontend that notifications and review cards carry."""


def artefact_url(frontend_url: str, family: str, artefact_id: int) -> str:
    return f"{frontend_url.rstrip('/')}/{family}s/{artefact_id}"
