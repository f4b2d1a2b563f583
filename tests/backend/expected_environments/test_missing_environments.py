"""Missing environments of an artefact, against its previous version or declared expectations."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Artefact,
    Environment,
    ExpectedEnvironments,
    FamilyName,
    Permission,
)
from tests.backend.factories import make_artefact, make_build, make_environment, make_execution
from tests.backend.principals import application_headers
from tests.backend.statements import count_statements

FRONTEND = "https://observer.example.com"
START = datetime(2026, 1, 1)
EXPECTED = "/v1/expected-environments"

# For each family: the fields of one line, and a field whose change starts another line
# (see `artefacts.previous`).
LINES = {
    FamilyName.snap: ({"name": "core", "store": "ubuntu", "track": "22", "branch": ""}, "branch"),
    FamilyName.charm: ({"name": "pg", "track": "14", "branch": ""}, "track"),
    FamilyName.deb: ({"name": "linux", "series": "noble", "repo": "main", "source": ""}, "series"),
    FamilyName.image: ({"name": "ubuntu", "os": "ubuntu", "release": "noble"}, "release"),
    FamilyName.solution: ({"name": "stack", "source": "s", "track": "1"}, "source"),
}


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(ignore_permissions=frozenset(Permission), frontend_url=FRONTEND)


def version(
    session: Session, family: FamilyName, number: str, day: int, **fields: object
) -> Artefact:
    line, _ = LINES[family]
    values = {"stage": "beta", **line, **fields}
    if family is FamilyName.image:
        values.setdefault("sha256", f"{values['release']}-{number}")
    return make_artefact(
        session, family=family, version=number, created_at=START + timedelta(days=day), **values
    )


def ran(session: Session, artefact: Artefact, *runs: tuple[str, str]) -> None:
    """Executions of the artefact: (environment name, test plan) each."""
    build = make_build(session, artefact)
    for name, plan in runs:
        environment = session.scalar(select(Environment).where(Environment.name == name))
        make_execution(session, build, environment or make_environment(session, name), plan)


def missing(api: TestClient, artefact: Artefact, **params: Any) -> dict[str, Any]:
    response = api.get(f"/v1/artefacts/{artefact.id}/missing-environments", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def link(family: FamilyName, artefact: Artefact, *environments: str) -> str:
    query = "&".join(f"Environment={name}" for name in environments)
    return f"{FRONTEND}/{family.value}s/{artefact.id}" + (f"?{query}" if query else "")


def declare(api: TestClient, **declaration: Any) -> dict[str, Any]:
    response = api.put(EXPECTED, json=declaration)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("family", list(FamilyName))
def test_against_the_previous_version(
    api: TestClient, db_session: Session, family: FamilyName
) -> None:
    _, other_field = LINES[family]
    # The previous version is archived by now: it still is what the next one is compared with.
    first = version(db_session, family, "1", 0, archived=True)
    ran(db_session, first, ("rpi4", "smoke"), ("xps 13", "smoke"), ("nuc", "full"))
    # Another line of the same family, created in between, never counts.
    other = version(db_session, family, "1.5", 1, **{other_field: "other"})
    ran(db_session, other, ("lab-9", "smoke"))
    second = version(db_session, family, "2", 2)
    # nuc ran, but not the plan the previous version ran there.
    ran(db_session, second, ("rpi4", "smoke"), ("nuc", "smoke"))
    db_session.commit()

    assert missing(api, first) == {
        "missing_environments": [],
        "previous_artefact_link": None,
        "expected_from": "nothing",
    }
    assert missing(api, second) == {
        "missing_environments": ["xps 13"],
        "previous_artefact_link": link(family, first, "xps+13"),
        "expected_from": "previous_version",
    }
    # Per test plan: an environment counts only with the same plan.
    assert missing(api, second, test_plans="full")["missing_environments"] == ["nuc"]
    assert missing(api, second, test_plans="smoke")["missing_environments"] == ["xps 13"]
    both = missing(api, second, test_plans=["smoke", "full"])
    assert both["missing_environments"] == ["nuc", "xps 13"]
    assert both["previous_artefact_link"] == link(family, first, "nuc", "xps+13")
    assert missing(api, second, test_plans="nightly")["missing_environments"] == []


@pytest.mark.parametrize("family", list(FamilyName))
def test_declared_expectations_win(
    api: TestClient, db_session: Session, family: FamilyName
) -> None:
    line, _ = LINES[family]
    first = version(db_session, family, "1", 0)
    ran(db_session, first, ("rpi4", "smoke"), ("xps", "smoke"))
    second = version(db_session, family, "2", 1)
    ran(db_session, second, ("rpi4", "smoke"))
    db_session.commit()
    name = str(line["name"])

    declare(api, family=family.value, artefact_name=name, environments=["rpi4", "nuc"])
    body = missing(api, second)
    assert body == {
        "missing_environments": ["nuc"],
        "previous_artefact_link": link(family, first, "nuc"),
        "expected_from": "declared",
    }
    # A first version is held to the declarations too; it has no previous page to link to.
    assert missing(api, first) == {
        "missing_environments": ["nuc"],
        "previous_artefact_link": None,
        "expected_from": "declared",
    }
    # A declaration for one plan needs that plan; narrowed to a plan, a declaration for any
    # plan asks for that plan.
    declare(api, family=family.value, artefact_name=name, test_plan="full", environments=["rpi4"])
    assert missing(api, second)["missing_environments"] == ["nuc", "rpi4"]
    assert missing(api, second, test_plans="smoke")["missing_environments"] == ["nuc"]
    assert missing(api, second, test_plans="full")["missing_environments"] == ["nuc", "rpi4"]
    # Declarations for another family or name do not apply.
    other_family = next(f for f in FamilyName if f is not family)
    declare(api, family=other_family.value, artefact_name=name, environments=["elsewhere"])
    declare(api, family=family.value, artefact_name=f"{name}-other", environments=["elsewhere"])
    assert "elsewhere" not in missing(api, second)["missing_environments"]
    # Withdrawn, the previous version is the expectation again.
    for plan in (None, "full"):
        params = {"family": family.value, "artefact_name": name, "test_plan": plan}
        response = api.delete(EXPECTED, params={k: v for k, v in params.items() if v})
        assert response.status_code == 204
    assert missing(api, second) == {
        "missing_environments": ["xps"],
        "previous_artefact_link": link(family, first, "xps"),
        "expected_from": "previous_version",
    }


def test_declarations_for_other_plans_leave_the_previous_version(
    api: TestClient, db_session: Session
) -> None:
    first = version(db_session, FamilyName.snap, "1", 0)
    ran(db_session, first, ("rpi4", "smoke"), ("xps", "smoke"))
    second = version(db_session, FamilyName.snap, "2", 1)
    ran(db_session, second, ("rpi4", "smoke"))
    db_session.commit()
    declare(api, family="snap", artefact_name="core", test_plan="full", environments=["nuc"])
    narrowed = missing(api, second, test_plans="smoke")
    assert (narrowed["expected_from"], narrowed["missing_environments"]) == (
        "previous_version",
        ["xps"],
    )


def test_environments_are_compared_by_their_current_names(
    api: TestClient, db_session: Session
) -> None:
    first = version(db_session, FamilyName.snap, "1", 0)
    ran(db_session, first, ("rpi4", "smoke"), ("old-name", "smoke"))
    second = version(db_session, FamilyName.snap, "2", 1)
    ran(db_session, second, ("rpi4", "smoke"), ("old-name", "smoke"))
    third = version(db_session, FamilyName.snap, "3", 2)
    # The device reports under a new name: a new environment as far as names go.
    ran(db_session, third, ("rpi4", "smoke"), ("new-name", "smoke"))
    db_session.commit()
    assert missing(api, third)["missing_environments"] == ["old-name"]

    # An environment renamed in place is one environment under its new name for both versions.
    db_session.execute(
        update(Environment).where(Environment.name == "old-name").values(name="renamed")
    )
    db_session.commit()
    assert missing(api, second)["missing_environments"] == []
    assert missing(api, third)["missing_environments"] == ["renamed"]
    # A declaration settles a rename that CI made.
    declare(api, family="snap", artefact_name="core", environments=["rpi4", "new-name"])
    assert missing(api, third)["missing_environments"] == []


def test_an_unknown_artefact_is_404(api: TestClient) -> None:
    response = api.get("/v1/artefacts/424242/missing-environments")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_a_fixed_number_of_statements(api: TestClient, db_session: Session, engine: Engine) -> None:
    first = version(db_session, FamilyName.snap, "1", 0)
    ran(db_session, first, *((f"env-{i}", f"plan-{i % 3}") for i in range(30)))
    second = version(db_session, FamilyName.snap, "2", 1)
    ran(db_session, second, *((f"env-{i}", f"plan-{i % 3}") for i in range(0, 30, 2)))
    db_session.commit()
    with count_statements(engine) as counter:
        assert len(missing(api, second)["missing_environments"]) == 15
    # The request's statement timeout, the artefact, its previous version, and what it misses
    # (declarations and both versions' executions together).
    assert counter.count == 4


def test_declarations_are_replaced_listed_and_withdrawn(api: TestClient) -> None:
    created = declare(api, family="deb", artefact_name="linux", environments=["b", "a", "b"])
    assert created["environments"] == ["a", "b"]
    assert (created["family"], created["artefact_name"], created["test_plan"]) == (
        "deb",
        "linux",
        None,
    )
    replaced = declare(api, family="deb", artefact_name="linux", environments=["c"])
    assert replaced["environments"] == ["c"]
    assert replaced["created_at"] == created["created_at"]
    declare(api, family="deb", artefact_name="linux", test_plan="sru", environments=["d"])
    declare(api, family="snap", artefact_name="linux", environments=["e"])

    every = api.get(EXPECTED).json()["expected_environments"]
    assert [(d["family"], d["test_plan"], d["environments"]) for d in every] == [
        ("snap", None, ["e"]),
        ("deb", None, ["c"]),
        ("deb", "sru", ["d"]),
    ]
    debs = api.get(EXPECTED, params={"families": "deb", "artefact_name": "linux"}).json()
    assert len(debs["expected_environments"]) == 2
    by_plan = api.get(EXPECTED, params={"test_plan": "sru"}).json()["expected_environments"]
    assert [d["environments"] for d in by_plan] == [["d"]]
    assert api.get(EXPECTED, params={"artefact_name": "nope"}).json() == {
        "expected_environments": []
    }

    gone = {"family": "deb", "artefact_name": "linux", "test_plan": "sru"}
    assert api.delete(EXPECTED, params=gone).status_code == 204
    # Withdrawing again changes nothing and succeeds.
    assert api.delete(EXPECTED, params=gone).status_code == 204
    left = api.get(EXPECTED).json()["expected_environments"]
    assert [(d["family"], d["test_plan"]) for d in left] == [("snap", None), ("deb", None)]


@pytest.mark.parametrize(
    "body",
    [
        {"family": "deb", "artefact_name": "linux", "environments": []},
        {"family": "rpm", "artefact_name": "linux", "environments": ["a"]},
        {"family": "deb", "artefact_name": "", "environments": ["a"]},
        {"family": "deb", "artefact_name": "linux", "environments": ["x" * 201]},
        {"family": "deb", "artefact_name": "linux", "test_plan": "", "environments": ["a"]},
        {"family": "deb", "environments": ["a"]},
    ],
)
def test_bad_declarations_are_422(api: TestClient, body: dict[str, Any]) -> None:
    response = api.put(EXPECTED, json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_deleting_needs_the_key(api: TestClient) -> None:
    assert api.delete(EXPECTED, params={"family": "deb"}).status_code == 422
    assert api.delete(EXPECTED, params={"artefact_name": "x", "family": "rpm"}).status_code == 422


def test_permissions(make_client: Callable[..., TestClient], db_session: Session) -> None:
    client = make_client(frontend_url=FRONTEND)
    body = {"family": "deb", "artefact_name": "linux", "environments": ["a"]}
    viewer = application_headers(db_session, Permission.view_artefact, name="viewer")
    writer = application_headers(db_session, Permission.change_expected_environment, name="writer")
    db_session.commit()
    assert client.put(EXPECTED, json=body, headers=viewer).status_code == 403
    assert client.put(EXPECTED, json=body, headers=writer).status_code == 200
    params = {"family": "deb", "artefact_name": "linux"}
    assert client.delete(EXPECTED, params=params, headers=viewer).status_code == 403
    assert client.get(EXPECTED, headers=writer).status_code == 403
    assert client.get(EXPECTED, headers=viewer).status_code == 200
    assert client.get("/v1/artefacts/1/missing-environments", headers=writer).status_code == 403
    assert client.delete(EXPECTED, params=params, headers=writer).status_code == 204


def test_concurrent_declarations_of_one_key_leave_one(api: TestClient, db_session: Session) -> None:
    def put(index: int) -> int:
        body = {"family": "snap", "artefact_name": "core", "environments": [f"env-{index}"]}
        return api.put(EXPECTED, json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(put, range(16))) == {200}
    rows = db_session.scalar(select(func.count()).select_from(ExpectedEnvironments))
    assert rows == 1


def test_values_the_database_cannot_hold_are_422(api: TestClient, db_session: Session) -> None:
    artefact = version(db_session, FamilyName.deb, "1", 0)
    db_session.commit()
    nul = {"family": "deb", "artefact_name": "li\x00nux", "environments": ["a"]}
    assert api.put(EXPECTED, json=nul).status_code == 422
    in_list = {"family": "deb", "artefact_name": "linux", "environments": ["a\x00"]}
    assert api.put(EXPECTED, json=in_list).status_code == 422
    assert api.get(EXPECTED, params={"artefact_name": "a\x00"}).status_code == 422
    plans = api.get(f"/v1/artefacts/{artefact.id}/missing-environments?test_plans=%00")
    assert plans.status_code == 422
    assert api.get("/v1/test-plans", params={"q": "\x00"}).status_code == 422
    too_large = api.get(f"/v1/artefacts/{2**31}/missing-environments")
    assert too_large.status_code == 422
