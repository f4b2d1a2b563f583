"""Every table of Test Observer, one module per aggregate.

Importing this package registers all tables on `Base.metadata` (Alembic relies on that).
"""

from .artefacts import (
    ARTEFACT_IDENTITY,
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    artefact_bundled_builds_association,
    artefact_reviewers_association,
    environment_review_reviewers_association,
)
from .audit import ACTOR_KINDS, AuditEvent
from .base import Base, Entity
from .enums import (
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    FamilyName,
    IssueSource,
    IssueStatus,
    NotificationType,
    Permission,
    TestExecutionStatus,
    TestResultStatus,
)
from .environments import Environment, EnvironmentIssue, ExpectedEnvironments
from .executions import (
    ComparisonSummary,
    TestEvent,
    TestExecution,
    TestExecutionMetadata,
    TestExecutionRelevantLink,
    TestExecutionRerunRequest,
    TestPlan,
    test_execution_metadata_association_table,
)
from .issues import (
    Issue,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    IssueTestResultAttachmentRuleExecutionMetadata,
)
from .matching_rules import (
    MATCHING_FIELDS,
    ArtefactMatchingRule,
    artefact_matching_rule_team_association,
)
from .notifications import Notification
from .results import Quarantine, TestCase, TestCaseIssue, TestResult
from .sign_in import ConsumedAssertion, IssuedSamlRequest, SignInLink
from .signatures import (
    FailureSignature,
    FailureSignatureArtefact,
    FailureSignatureEnvironment,
    FailureSignatureIssue,
    FailureSignatureTestCase,
)
from .users import Application, Team, User, UserSession, team_users_association
from .webhooks import Webhook, WebhookDelivery, WebhookEvent

__all__ = [
    "ACTOR_KINDS",
    "ARTEFACT_IDENTITY",
    "MATCHING_FIELDS",
    "Application",
    "Artefact",
    "ArtefactBuild",
    "ArtefactBuildEnvironmentReview",
    "ArtefactBuildEnvironmentReviewDecision",
    "ArtefactMatchingRule",
    "ArtefactStatus",
    "AuditEvent",
    "Base",
    "ComparisonSummary",
    "ConsumedAssertion",
    "Entity",
    "Environment",
    "EnvironmentIssue",
    "ExpectedEnvironments",
    "FailureSignature",
    "FailureSignatureArtefact",
    "FailureSignatureEnvironment",
    "FailureSignatureIssue",
    "FailureSignatureTestCase",
    "FamilyName",
    "Issue",
    "IssueSource",
    "IssueStatus",
    "IssueTestResultAttachment",
    "IssueTestResultAttachmentRule",
    "IssueTestResultAttachmentRuleExecutionMetadata",
    "IssuedSamlRequest",
    "Notification",
    "NotificationType",
    "Permission",
    "Quarantine",
    "SignInLink",
    "Team",
    "TestCase",
    "TestCaseIssue",
    "TestEvent",
    "TestExecution",
    "TestExecutionMetadata",
    "TestExecutionRelevantLink",
    "TestExecutionRerunRequest",
    "TestExecutionStatus",
    "TestPlan",
    "TestResult",
    "TestResultStatus",
    "User",
    "UserSession",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
    "artefact_bundled_builds_association",
    "artefact_matching_rule_team_association",
    "artefact_reviewers_association",
    "environment_review_reviewers_association",
    "team_users_association",
    "test_execution_metadata_association_table",
]
