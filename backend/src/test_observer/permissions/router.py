"""GET /v1/permissions."""

from fastapi import APIRouter

from test_observer.auth import requires
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import PermissionList

router = APIRouter(prefix="/v1/permissions", tags=["permissions"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_permission)])
def get_permissions() -> PermissionList:
    return service.all_permissions()
