"""Enumerations stored in PostgreSQL enum types.

The database stores each member's *name*; the API speaks each member's *value*. They differ only
for issue source and status, whose database labels are upper case.
"""

from enum import StrEnum

from sqlalchemy import Enum as SAEnum


class FamilyName(StrEnum):
    snap = "snap"
    deb = "deb"
    charm = "charm"
    image = "image"
    solution = "solution"


class TestExecutionStatus(StrEnum):
    __test__ = False  # not a pytest test class

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    PASSED = "PASSED"
    FAILED = "FAILED"
    NOT_TESTED = "NOT_TESTED"
    ENDED_PREMATURELY = "ENDED_PREMATURELY"


class TestResultStatus(StrEnum):
    __test__ = False

    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class ArtefactStatus(StrEnum):
    APPROVED = "APPROVED"
    MARKED_AS_FAILED = "MARKED_AS_FAILED"
    UNDECIDED = "UNDECIDED"


class ArtefactBuildEnvironmentReviewDecision(StrEnum):
    REJECTED = "REJECTED"
    APPROVED_INCONSISTENT_TEST = "APPROVED_INCONSISTENT_TEST"
    APPROVED_UNSTABLE_PHYSICAL_INFRA = "APPROVED_UNSTABLE_PHYSICAL_INFRA"
    APPROVED_CUSTOMER_PREREQUISITE_FAIL = "APPROVED_CUSTOMER_PREREQUISITE_FAIL"
    APPROVED_FAULTY_HARDWARE = "APPROVED_FAULTY_HARDWARE"
    APPROVED_ALL_TESTS_PASS = "APPROVED_ALL_TESTS_PASS"


class IssueSource(StrEnum):
    JIRA = "jira"
    GITHUB = "github"
    LAUNCHPAD = "launchpad"


class IssueStatus(StrEnum):
    UNKNOWN = "unknown"
    OPEN = "open"
    CLOSED = "closed"


class NotificationType(StrEnum):
    USER_ASSIGNED_ARTEFACT_REVIEW = "USER_ASSIGNED_ARTEFACT_REVIEW"
    USER_ASSIGNED_ENVIRONMENT_REVIEW = "USER_ASSIGNED_ENVIRONMENT_REVIEW"


class Permission(StrEnum):
    """Every named permission, in the order `GET /v1/permissions` lists them."""

    view_user = "view_user"
    change_user = "change_user"
    view_team = "view_team"
    change_team = "change_team"
    add_application = "add_application"
    change_application = "change_application"
    view_application = "view_application"
    view_permission = "view_permission"
    view_issue = "view_issue"
    change_issue = "change_issue"
    change_issue_attachment = "change_issue_attachment"
    change_issue_attachment_bulk = "change_issue_attachment_bulk"
    change_attachment_rule = "change_attachment_rule"
    change_auto_rerun = "change_auto_rerun"
    view_test = "view_test"
    change_test = "change_test"
    view_rerun = "view_rerun"
    change_rerun = "change_rerun"
    change_rerun_bulk = "change_rerun_bulk"
    view_artefact = "view_artefact"
    change_artefact = "change_artefact"
    view_environment_review = "view_environment_review"
    change_environment_review = "change_environment_review"
    view_report = "view_report"
    view_test_case_reported_issue = "view_test_case_reported_issue"
    change_test_case_reported_issue = "change_test_case_reported_issue"
    view_environment_reported_issue = "view_environment_reported_issue"
    change_environment_reported_issue = "change_environment_reported_issue"
    change_expected_environment = "change_expected_environment"
    view_notification = "view_notification"
    change_notification = "change_notification"
    view_sentry_debug = "view_sentry_debug"
    view_audit = "view_audit"
    view_webhook = "view_webhook"
    change_webhook = "change_webhook"
    change_quarantine = "change_quarantine"


# One SQLAlchemy type per PostgreSQL enum, shared by every column (and array) that uses it, so
# that the type is created once and dropped once.
family_name_type = SAEnum(FamilyName, name="familyname")
test_execution_status_type = SAEnum(TestExecutionStatus, name="testexecutionstatus")
test_result_status_type = SAEnum(TestResultStatus, name="testresultstatus")
artefact_status_type = SAEnum(ArtefactStatus, name="artefactstatus")
review_decision_type = SAEnum(
    ArtefactBuildEnvironmentReviewDecision, name="artefactbuildenvironmentreviewdecision"
)
issue_source_type = SAEnum(IssueSource, name="issuesource")
issue_status_type = SAEnum(IssueStatus, name="issuestatus")
notification_type_type = SAEnum(NotificationType, name="notificationtype")
permission_type = SAEnum(Permission, name="permission")
