"""Wire shapes of the permissions endpoint."""

from test_observer.db.models import Permission

PermissionList = list[Permission]
