"""The packed charm and the published rock the integration tests deploy.

`CHARM_PATH` and `API_IMAGE` name them when they are already built. Otherwise they are built
here where the tools exist: `charmcraft pack` at the repository root, and `rockcraft pack`
followed by a copy into the registry the cluster pulls from (`IMAGE_REGISTRY`, by default
microk8s's built-in registry at localhost:32000).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACK_TIMEOUT = 60 * 60


class MissingToolError(Exception):
    """Neither a prebuilt artefact nor the tool that builds it is available."""


def _newest(pattern: str) -> Path:
    found = sorted(ROOT.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"packing produced no {pattern} in {ROOT}")
    return found[-1]


def charm() -> Path:
    given = os.environ.get("CHARM_PATH")
    if given:
        if not Path(given).is_file():
            raise FileNotFoundError(f"CHARM_PATH={given} is not a file")
        return Path(given).resolve()
    if shutil.which("charmcraft") is None:
        raise MissingToolError("set CHARM_PATH, or install charmcraft (4.5 or later) to pack it")
    subprocess.run(["charmcraft", "pack"], cwd=ROOT, check=True, timeout=PACK_TIMEOUT)
    return _newest("*.charm")


def rock_image() -> str:
    given = os.environ.get("API_IMAGE")
    if given:
        return given
    if shutil.which("rockcraft") is None:
        raise MissingToolError("set API_IMAGE, or install rockcraft to pack and publish the rock")
    subprocess.run(["rockcraft", "pack"], cwd=ROOT, check=True, timeout=PACK_TIMEOUT)
    rock = _newest("*.rock")
    registry = os.environ.get("IMAGE_REGISTRY", "localhost:32000")
    # The rock's file name carries its version: test-observer_<version>_<arch>.rock.
    image = f"{registry}/test-observer:{rock.stem.split('_')[1]}"
    subprocess.run(
        [
            "rockcraft.skopeo",
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            f"oci-archive:{rock}",
            f"docker://{image}",
        ],
        check=True,
        timeout=PACK_TIMEOUT,
    )
    return image
