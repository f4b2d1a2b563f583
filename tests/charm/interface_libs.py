"""The real Charmhub interface libraries, as the other side of the charm's relations.

The libraries are not part of this repository. They are read from a folder laid out the way
`charmcraft fetch-lib` lays them out (`charms/<owner package>/v<N>/<library>.py`): `CHARM_LIBS`
names it, by default `../shared/charm-libs` beside the repository. Which copies (LIBAPI and
LIBPATCH) the tests were written against is recorded in docs/explanation/charm-interfaces.md.

Without the folder the wire tests skip, naming it; CI has it, and a CI run without it fails
rather than pass without the other side of every relation.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ops import testing

ROOT = Path(__file__).resolve().parents[2]
LIBS = Path(os.environ.get("CHARM_LIBS") or ROOT.parent / "shared" / "charm-libs").resolve()


def load(module: str) -> ModuleType:
    """Import one library (e.g. `charms.traefik_k8s.v2.ingress`), or skip the calling module."""
    if not (LIBS / "charms").is_dir():
        reason = f"no Charmhub interface libraries at {LIBS} (set CHARM_LIBS to their folder)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    if str(LIBS) not in sys.path:
        sys.path.insert(0, str(LIBS))
    return importlib.import_module(module)


def remote_view(secret: testing.Secret) -> testing.Secret:
    """A secret the provider created and granted, as the requirer sees it: same id and content,
    owned by someone else."""
    return testing.Secret(dict(secret.latest_content or secret.tracked_content), id=secret.id)


def one_relation(state: testing.State, endpoint: str) -> Any:
    (relation,) = [r for r in state.relations if r.endpoint == endpoint]
    return relation
