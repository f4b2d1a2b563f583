"""The longest text the API accepts for each value that is stored in an indexed column.

PostgreSQL cannot index a value larger than about 2,700 bytes (a third of a page), and refuses
to store it. Checking lengths in the request schemas makes such a value a 422 naming the field,
before any SQL runs; the limits also appear as `maxLength` in the OpenAPI document. A character
takes up to 4 bytes, so each limit keeps a single-column index entry within that size.
"""

# Artefact, environment and test plan names, and the artefact fields of start-test that identify
# it (version, track, store, series, repo, source, branch).
NAME_LENGTH = 200
# Test case names, template ids and categories, in results and reported issues.
TEST_CASE_LENGTH = 500
# Team and application names.
PRINCIPAL_NAME_LENGTH = 200
