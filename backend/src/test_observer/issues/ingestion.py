"""Automatic issue attachment: what happens to results right after they are stored.

`on_results_stored` is the single hook called by every path that stores results (end-test and
POST test-results), with the ids of the results just inserted or replaced. It works on the
whole set at once: three statements whatever the number of results, two when none replaced an
earlier one.

1. Attachments a rule made earlier to a replaced result are dropped: the result changed, so the
   rules decide again. Attachments made by hand stay.
2. Every enabled attachment rule whose filters all accept a result attaches its issue to it.
   An empty filter accepts anything; a rule's execution metadata requires, for each of its
   categories, that the execution carries at least one of the rule's values. When several
   rules of one issue match, the lowest rule id is recorded. A rule's failure signatures
   require the result to have one of them (results are signed before this hook runs). An
   attachment that exists already (made by hand) stays as it is.
3. If any result of the execution is now attached to an issue with automatic reruns, a rerun
   request for the execution's group is created (priority 0) unless one exists. The insert
   skips an existing request on the group's unique constraint, so concurrent uploads to the
   executions of one group create exactly one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

_DROP_RULE_ATTACHMENTS = text(
    """
    DELETE FROM issue_test_result_attachment
    WHERE test_result_id = ANY(CAST(:result_ids AS integer[]))
      AND attachment_rule_id IS NOT NULL
    """
)

# The rules are matched in two steps. What a rule asks of the execution (its artefact,
# environment, test plan and metadata) is the same for every stored result, so it is decided
# once, against the execution's row: usually few rules, often none, are left. Only those are
# matched against the results, read by their ids (a step of its own, so that PostgreSQL cannot
# start from the rules and read the results of every execution they accept), and not read at
# all when no rule is left. DISTINCT ON keeps one row per (issue, result): the lowest matching
# rule id, which is then the rule recorded. (An ORDER BY feeding an INSERT would not guarantee
# which row wins.)
_ATTACH_BY_RULES = text(
    """
    WITH execution AS MATERIALIZED (
        SELECT te.id, a.family, a.name AS artefact, a.version, a.stage, a.track,
               env.name AS environment, plan.name AS test_plan
        FROM test_execution AS te
        JOIN artefact_build AS build ON build.id = te.artefact_build_id
        JOIN artefact AS a ON a.id = build.artefact_id
        JOIN environment AS env ON env.id = te.environment_id
        JOIN test_plan AS plan ON plan.id = te.test_plan_id
        WHERE te.id = :execution_id
    ),
    candidate AS MATERIALIZED (
        SELECT rule.id, rule.issue_id, rule.test_case_names, rule.template_ids,
               rule.test_result_statuses, rule.failure_signature_ids
        FROM execution
        JOIN issue_test_result_attachment_rule AS rule ON rule.enabled
         AND (cardinality(rule.families) = 0 OR execution.family = ANY(rule.families))
         AND (cardinality(rule.artefacts) = 0 OR execution.artefact = ANY(rule.artefacts))
         AND (cardinality(rule.artefact_versions) = 0
              OR execution.version = ANY(rule.artefact_versions))
         AND (cardinality(rule.artefact_stages) = 0
              OR execution.stage = ANY(rule.artefact_stages))
         AND (cardinality(rule.artefact_tracks) = 0
              OR execution.track = ANY(rule.artefact_tracks))
         AND (cardinality(rule.environment_names) = 0
              OR execution.environment = ANY(rule.environment_names))
         AND (cardinality(rule.test_plans) = 0 OR execution.test_plan = ANY(rule.test_plans))
        WHERE NOT EXISTS (
            SELECT 1
            FROM issue_test_result_attachment_rule_execution_metadata AS wanted
            WHERE wanted.attachment_rule_id = rule.id
              AND NOT EXISTS (
                SELECT 1
                FROM issue_test_result_attachment_rule_execution_metadata AS accepted
                JOIN test_execution_metadata AS md
                  ON md.category = accepted.category AND md.value = accepted.value
                JOIN test_execution_metadata_association_table AS link
                  ON link.test_execution_metadata_id = md.id
                 AND link.test_execution_id = execution.id
                WHERE accepted.attachment_rule_id = rule.id
                  AND accepted.category = wanted.category
              )
          )
    ),
    stored AS MATERIALIZED (
        SELECT result.id, result.status, result.failure_signature_id, tc.name AS case_name,
               tc.template_id
        FROM test_result AS result
        JOIN test_case AS tc ON tc.id = result.test_case_id
        WHERE result.id = ANY(CAST(:result_ids AS integer[]))
          AND result.test_execution_id = :execution_id
          AND EXISTS (SELECT 1 FROM candidate)
    )
    INSERT INTO issue_test_result_attachment (issue_id, test_result_id, attachment_rule_id)
    SELECT DISTINCT ON (rule.issue_id, stored.id) rule.issue_id, stored.id, rule.id
    FROM candidate AS rule
    JOIN stored
      ON (cardinality(rule.test_case_names) = 0 OR stored.case_name = ANY(rule.test_case_names))
     AND (cardinality(rule.template_ids) = 0 OR stored.template_id = ANY(rule.template_ids))
     AND (cardinality(rule.test_result_statuses) = 0
          OR stored.status = ANY(rule.test_result_statuses))
     AND (cardinality(rule.failure_signature_ids) = 0
          OR stored.failure_signature_id = ANY(rule.failure_signature_ids))
    ORDER BY rule.issue_id, stored.id, rule.id
    ON CONFLICT (issue_id, test_result_id) DO NOTHING
    """
)

_AUTO_RERUN = text(
    """
    INSERT INTO test_execution_rerun_request
        (test_plan_id, artefact_build_id, environment_id, priority)
    SELECT te.test_plan_id, te.artefact_build_id, te.environment_id, 0
    FROM test_execution AS te
    WHERE te.id = :execution_id
      AND EXISTS (
        SELECT 1
        FROM test_result AS result
        JOIN issue_test_result_attachment AS attachment ON attachment.test_result_id = result.id
        JOIN issue ON issue.id = attachment.issue_id
        WHERE result.test_execution_id = te.id AND issue.auto_rerun_enabled
      )
    ON CONFLICT ON CONSTRAINT uq_rerun_request_group DO NOTHING
    """
)


def on_results_stored(
    session: Session, execution_id: int, result_ids: Sequence[int], *, replaced: bool
) -> None:
    """Apply the attachment rules to the given results of one execution (see module doc).

    `replaced`: whether some of them replaced an earlier result; results that are all new have
    no attachments to drop.
    """
    if not result_ids:
        return
    ids = list(result_ids)
    if replaced:
        session.execute(_DROP_RULE_ATTACHMENTS, {"result_ids": ids})
    session.execute(_ATTACH_BY_RULES, {"execution_id": execution_id, "result_ids": ids})
    session.execute(_AUTO_RERUN, {"execution_id": execution_id})
