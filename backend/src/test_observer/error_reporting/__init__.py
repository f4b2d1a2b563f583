"""Optional error reporting to Sentry: nothing is set up, and nothing sent, without SENTRY_DSN."""

from __future__ import annotations

import sys

from test_observer.settings import Settings


def init_error_reporting(settings: Settings, release: str) -> bool:
    """Start reporting unhandled errors to Sentry when SENTRY_DSN is set; whether it is on."""
    if not settings.sentry_dsn:
        return False
    # Imported only when used: the SDK costs every process that starts the app a tenth of a
    # second, and most deployments (and every test server) run without it.
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        release=release,
        # Errors only, no performance tracing. Personal data (cookies, IPs) stays out of events
        # by the SDK's default.
        traces_sample_rate=0.0,
    )
    return True


def report(error: BaseException) -> None:
    """Send an error that a handler turned into a response (a no-op when reporting is off)."""
    sentry_sdk = sys.modules.get("sentry_sdk")
    if sentry_sdk is not None:
        sentry_sdk.capture_exception(error)
