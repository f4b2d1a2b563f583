"""Latency of the artefact page and the searches, on a dataset and on one four times larger.

Not part of the default test run: `uv run tox -e bench` (or `pytest tests/bench`). Prints
median and p95 per endpoint for both sizes and checks the targets: p95 under 50 ms for the
artefact page, under 200 ms for the searches, and the larger dataset at most 1.5 times slower.

The dataset comes from `test-observer seed` when the CLI has that command; otherwise a built-in
generator of the same shape writes it (noted in the output). The largest artefact is the same
size in both datasets: only the amount of history around it grows.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db import migrate
from test_observer.db.engine import make_engine
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    Environment,
    FamilyName,
    Permission,
    TestCase,
    TestExecution,
    TestExecutionRerunRequest,
    TestExecutionStatus,
    TestPlan,
    TestResult,
    TestResultStatus,
)
from test_observer.settings import Settings
from tests.database import scratch_database

RUNS = 40
WARM_UP = 5
PAGE_TARGET_MS = 50.0
SEARCH_TARGET_MS = 200.0
GROWTH_LIMIT = 1.5

# The largest artefact: architectures x environments executions, RESULTS results each.
ARCHITECTURES = 4
ENVIRONMENTS = 20
RESULTS = 100


def _seed_command_available() -> bool:
    help_text = subprocess.run(
        ["test-observer", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return " seed " in help_text or "\n│ seed" in help_text


def _rows(engine: Engine, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    with engine.begin() as connection:
        return list(connection.scalars(insert(model).returning(model.id), rows))


def _artefact_with_history(
    engine: Engine,
    name: str,
    version: str,
    environments: list[tuple[int, str]],
    cases: list[int],
    plan: int,
    family: FamilyName = FamilyName.snap,
    archived: bool = False,
) -> int:
    """An artefact with one build per architecture, one execution per environment of that
    architecture, a review for each, a result per case and a rerun request for some."""
    (artefact_id,) = _rows(
        engine,
        Artefact,
        [
            {
                "name": name,
                "version": version,
                "family": family,
                "stage": "beta" if family != FamilyName.deb else "proposed",
                "track": "latest",
                "store": "ubuntu",
                "series": "noble" if family == FamilyName.deb else "",
                "archived": archived,
            }
        ],
    )
    architectures = sorted({arch for _, arch in environments})
    build_ids = dict(
        zip(
            architectures,
            _rows(
                engine,
                ArtefactBuild,
                [
                    {"artefact_id": artefact_id, "architecture": arch, "revision": 1}
                    for arch in architectures
                ],
            ),
            strict=True,
        )
    )
    pairs = [(build_ids[arch], env_id) for env_id, arch in environments]
    executions = _rows(
        engine,
        TestExecution,
        [
            {
                "artefact_build_id": build,
                "environment_id": env,
                "test_plan_id": plan,
                "status": TestExecutionStatus.FAILED,
            }
            for build, env in pairs
        ],
    )
    _rows(
        engine,
        ArtefactBuildEnvironmentReview,
        [{"artefact_build_id": build, "environment_id": env} for build, env in pairs],
    )
    _rows(
        engine,
        TestExecutionRerunRequest,
        [
            {"artefact_build_id": build, "environment_id": env, "test_plan_id": plan}
            for build, env in pairs[::3]
        ],
    )
    statuses = list(TestResultStatus)
    _rows(
        engine,
        TestResult,
        [
            {
                "test_execution_id": execution,
                "test_case_id": case,
                "status": statuses[(execution + case) % 3],
                "comment": "",
                "io_log": "line of output\n" * 20,
            }
            for execution in executions
            for case in cases
        ],
    )
    return artefact_id


def generate(engine: Engine, scale: int) -> int:
    """Write the dataset; return the id of the largest artefact."""
    environments = _rows(
        engine,
        Environment,
        [
            {"name": f"device-{e}", "architecture": f"arch{a}"}
            for a in range(ARCHITECTURES)
            for e in range(ENVIRONMENTS)
        ],
    )
    env_archs = [
        (env_id, f"arch{index // ENVIRONMENTS}") for index, env_id in enumerate(environments)
    ]
    cases = _rows(
        engine,
        TestCase,
        [
            {"name": f"suite/case-{c}", "category": "suite", "template_id": ""}
            for c in range(RESULTS)
        ],
    )
    (plan,) = _rows(engine, TestPlan, [{"name": "full"}])
    largest = _artefact_with_history(engine, "core22", "largest", env_archs, cases, plan)
    # History: many smaller artefacts in every family, scaled.
    for index in range(60 * scale):
        family = [FamilyName.snap, FamilyName.deb, FamilyName.charm][index % 3]
        _artefact_with_history(
            engine,
            f"pkg-{index % (15 * scale)}",
            f"v{index}",
            env_archs[index % 10 :: 16],
            cases[:20],
            plan,
            family=family,
            archived=index % 4 == 0,
        )
    return largest


@pytest.fixture(scope="module", params=[1, 4], ids=["default", "4x"])
def dataset(request: pytest.FixtureRequest, database_server: str) -> Iterator[tuple[int, Any]]:
    scale: int = request.param
    with scratch_database(database_server, f"bench{scale}") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        if _seed_command_available():
            # The default dataset, or one with 4x the artefacts and executions as 4x the
            # versions of the same lines: artefacts and dashboards keep their size, history grows.
            subprocess.run(
                [
                    "test-observer",
                    "seed",
                    "--artefacts",
                    str(300 * scale),
                    "--executions",
                    str(2600 * scale),
                    "--versions-per-line",
                    str(5 * scale),
                ],
                env={"DB_URL": url, "PATH": _path()},
                check=True,
            )
            with engine.connect() as connection:
                largest = connection.scalar(
                    select(ArtefactBuild.artefact_id)
                    .join(TestExecution, TestExecution.artefact_build_id == ArtefactBuild.id)
                    .group_by(ArtefactBuild.artefact_id)
                    .order_by(func.count(TestExecution.id).desc())
                    .limit(1)
                )
            source = "test-observer seed"
        else:
            largest = generate(engine, scale)
            source = "built-in generator (no `seed` command in this build)"
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        app = create_app(
            Settings(db_url=url, ignore_permissions=frozenset(Permission)), engine=engine
        )
        with engine.connect() as connection:
            test_case = connection.scalar(
                select(TestCase.name).order_by(TestCase.id).offset(7).limit(1)
            )
        yield scale, (TestClient(app), largest, source, test_case)
        engine.dispose()


def _path() -> str:
    import os

    return os.environ.get("PATH", "")


def endpoints(artefact: int, test_case: str) -> dict[str, tuple[str, float | None]]:
    page, search = PAGE_TARGET_MS, SEARCH_TARGET_MS
    return {
        "GET /v1/artefacts?family=snap": ("/v1/artefacts?family=snap", page),
        "GET /v1/artefacts?family=deb": ("/v1/artefacts?family=deb", page),
        "GET /v1/artefacts/{id}": (f"/v1/artefacts/{artefact}", page),
        "GET /v1/artefacts/{id}/builds": (f"/v1/artefacts/{artefact}/builds", page),
        "GET /v1/artefacts/{id}/environment-reviews": (
            f"/v1/artefacts/{artefact}/environment-reviews",
            page,
        ),
        "GET /v1/test-results?test_cases=...": (
            f"/v1/test-results?test_cases={test_case}&limit=100",
            search,
        ),
        # CI polls the queue a page at a time; that is what the targets apply to.
        "GET /v1/test-executions/reruns?limit=100": (
            "/v1/test-executions/reruns?limit=100",
            search,
        ),
        # The whole queue, reported for information: it grows with the queue, not the history.
        "GET /v1/test-executions/reruns (whole queue)": ("/v1/test-executions/reruns", None),
    }


def timings(call: Callable[[], Any]) -> list[float]:
    for _ in range(WARM_UP):
        call()
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


RESULTS_BY_SCALE: dict[int, dict[str, tuple[float, float]]] = {}


def test_latency(dataset: tuple[int, Any], capsys: pytest.CaptureFixture[str]) -> None:
    scale, (client, largest, source, test_case) = dataset
    measured: dict[str, tuple[float, float]] = {}
    missing = []
    for name, (path, _) in endpoints(largest, test_case).items():
        response = client.get(path)
        if response.status_code in (404, 405) and "{id}" not in name:
            missing.append(name)
            continue
        assert response.status_code == 200, (name, response.text[:200])
        samples = timings(lambda path=path: client.get(path))
        measured[name] = (statistics.median(samples), p95(samples))
    RESULTS_BY_SCALE[scale] = measured
    with capsys.disabled():
        print(f"\n\ndataset x{scale} from {source}; largest artefact id {largest}")
        print(f"{'endpoint':48} {'median ms':>10} {'p95 ms':>10}")
        for name, (median, high) in measured.items():
            print(f"{name:48} {median:10.1f} {high:10.1f}")
        for name in missing:
            print(f"{name:48} {'not served by this build':>21}")
    targets = endpoints(largest, test_case)
    gated = {name: times for name, times in measured.items() if targets[name][1] is not None}
    for name, (_, high) in gated.items():
        assert high < targets[name][1], (name, high)  # type: ignore[operator]
    if scale == 4 and 1 in RESULTS_BY_SCALE:
        for name, (median, _) in gated.items():
            base = RESULTS_BY_SCALE[1][name][0]
            # Medians below a few milliseconds are noise-dominated; allow that much slack.
            assert median <= max(base * GROWTH_LIMIT, base + 3.0), (name, base, median)
