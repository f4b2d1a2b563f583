"""External issues (Jira, GitHub, Launchpad), their links to test results, and the rules that
create such links automatically."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTC_NOW, Base, Entity
from .enums import (
    FamilyName,
    IssueSource,
    IssueStatus,
    TestResultStatus,
    family_name_type,
    issue_source_type,
    issue_status_type,
    test_result_status_type,
)

ISSUE_URL_TEMPLATES = {
    IssueSource.GITHUB: "https://github.com/{project}/issues/{key}",
    IssueSource.JIRA: "https://warthogs.atlassian.net/browse/{project}-{key}",
    IssueSource.LAUNCHPAD: "https://bugs.launchpad.net/{project}/+bug/{key}",
}


class Issue(Entity):
    __tablename__ = "issue"
    __table_args__ = (
        UniqueConstraint("project", "source", "key"),
        Index("idx_issue_status_last_synced", "status", "last_synced_at"),
    )

    source: Mapped[IssueSource] = mapped_column(issue_source_type)
    project: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(), default="", server_default="")
    status: Mapped[IssueStatus] = mapped_column(issue_status_type, default=IssueStatus.UNKNOWN)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime())
    # Set by the sync job when it sees the issue closed; closed issues are re-checked less often
    # the longer they have been closed.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime())
    labels: Mapped[list[str] | None] = mapped_column(ARRAY(String()))
    auto_rerun_enabled: Mapped[bool] = mapped_column(server_default=text("false"))

    attachment_rules: Mapped[list[IssueTestResultAttachmentRule]] = relationship(
        lazy="raise", passive_deletes=True
    )

    @property
    def url(self) -> str:
        return ISSUE_URL_TEMPLATES[self.source].format(project=self.project, key=self.key)


class IssueTestResultAttachment(Base):
    """An issue attached to a test result, by hand or by a rule.

    Bulk attachment writes a row per result, so each row is kept cheap: the key is the pair
    itself, and the references to the issue, the result and the rule are checked once per
    statement by triggers rather than per row by foreign keys (migrations 0011 and 0014 say
    how).
    """

    __tablename__ = "issue_test_result_attachment"
    __table_args__ = (
        # Only rule-made rows need finding by rule (when the rule is deleted).
        Index(
            "issue_test_result_attachment_attachment_rule_id_ix",
            "attachment_rule_id",
            postgresql_where=text("attachment_rule_id IS NOT NULL"),
        ),
    )

    issue_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    test_result_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, index=True)
    # NULL means attached by hand; otherwise the rule that created the attachment (checked
    # per statement as well, and cleared when the rule is deleted).
    attachment_rule_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(), server_default=UTC_NOW)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(), server_default=UTC_NOW, onupdate=UTC_NOW
    )


def _array_filter(item_type: object) -> Mapped[list]:  # type: ignore[type-arg]
    """An array column used as a filter: empty means "any value"."""
    return mapped_column(ARRAY(item_type), default=list, server_default="{}")  # type: ignore[arg-type]


class IssueTestResultAttachmentRule(Entity):
    __tablename__ = "issue_test_result_attachment_rule"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=text("true"), index=True)
    families: Mapped[list[FamilyName]] = _array_filter(family_name_type)
    artefacts: Mapped[list[str]] = _array_filter(String())
    artefact_versions: Mapped[list[str]] = _array_filter(String())
    artefact_stages: Mapped[list[str]] = _array_filter(String())
    artefact_tracks: Mapped[list[str]] = _array_filter(String())
    environment_names: Mapped[list[str]] = _array_filter(String())
    test_plans: Mapped[list[str]] = _array_filter(String())
    test_case_names: Mapped[list[str]] = _array_filter(String())
    template_ids: Mapped[list[str]] = _array_filter(String())
    test_result_statuses: Mapped[list[TestResultStatus]] = _array_filter(test_result_status_type)
    failure_signature_ids: Mapped[list[int]] = _array_filter(Integer())

    execution_metadata: Mapped[list[IssueTestResultAttachmentRuleExecutionMetadata]] = relationship(
        lazy="raise", passive_deletes=True
    )


class IssueTestResultAttachmentRuleExecutionMetadata(Entity):
    __tablename__ = "issue_test_result_attachment_rule_execution_metadata"
    __table_args__ = (UniqueConstraint("attachment_rule_id", "category", "value"),)

    attachment_rule_id: Mapped[int] = mapped_column(
        ForeignKey("issue_test_result_attachment_rule.id", ondelete="CASCADE")
    )
    category: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
