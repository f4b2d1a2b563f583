"""What a process that starts the app does not load until it needs it: each of these costs
every server and worker process a tenth of a second of start-up, and most never use them."""

from __future__ import annotations

import subprocess
import sys

# Sentry's SDK (only with SENTRY_DSN), signxml (a SAML sign-in), httpx (calls to Jira,
# Launchpad and the identity provider, made by few requests).
LOADED_ON_USE = ("sentry_sdk", "signxml", "httpx")


def test_an_app_without_sentry_loads_no_sdk_and_no_http_client(database_url: str) -> None:
    script = (
        "import sys\n"
        "from test_observer.app import create_app\n"
        "from test_observer.settings import Settings\n"
        f"create_app(Settings(db_url={database_url!r}))\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {LOADED_ON_USE!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
