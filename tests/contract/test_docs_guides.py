"""The step-by-step guides give every step their commands need, in order."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _shell_lines(path: Path) -> list[str]:
    lines, inside = [], False
    for line in path.read_text().splitlines():
        if line.strip().startswith("```"):
            inside = not inside
            continue
        if inside:
            lines.append(line.strip())
    return lines


def test_the_microk8s_guide_enables_metallb_before_it_deploys_traefik():
    lines = _shell_lines(DOCS / "how-to" / "deploy-on-microk8s.md")

    traefik = next(i for i, line in enumerate(lines) if line.startswith("juju deploy traefik-k8s"))
    metallb = [
        i
        for i, line in enumerate(lines)
        if re.match(r"(sudo )?microk8s enable .*metallb:\d+(\.\d+){3}-\d+(\.\d+){3}", line)
    ]
    assert metallb, "no `microk8s enable metallb:FIRST-LAST` step"
    assert metallb[0] < traefik
