"""Reads for the Limits page: their query counts stay fixed however many limits there are."""

from spend import selectors
from tests import factories
from tests.spend.builders import token_limit


def test_limits_of_reads_scopes_thresholds_and_endpoints_in_three_queries(
    org, django_assert_num_queries
):
    workspace = factories.make_workspace(org, "Research", "wrkspc_r")
    for i in range(3):
        token_limit(org, name=f"ws {i}", workspace=workspace, thresholds=(50, 80, 100))
    with django_assert_num_queries(3):
        limits = selectors.limits_of(org)
        labels = [limit.scope_label for limit in limits]
        counts = [[t.alert_count for t in limit.thresholds.all()] for limit in limits]
        [list(t.endpoints.all()) for limit in limits for t in limit.thresholds.all()]
    assert labels == ["Workspace Research"] * 3
    assert counts == [[0, 0, 0]] * 3
