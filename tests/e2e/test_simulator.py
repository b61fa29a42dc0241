"""Scripted customers on a shop the bot was not tuned for (shops/sport), through the real servers.

Fails when fewer than 95 % of the customers reach the correct order, or when any wrong order is posted to the
managers' group (worse than no order: a manager ships it). The message lists every failing customer with the
fields that differ and the transcript.
"""
import pytest

from devstack.simulator import CORRECT, WRONG, load_customers, run_customers, shop_stack, table
from tests.e2e.conftest import trained_model

pytestmark = pytest.mark.e2e

REQUIRED_SHARE = 0.95


@pytest.fixture(scope="module")
def sport_stack(tmp_path_factory):
    with shop_stack(tmp_path_factory.mktemp("sport"), trained_model()) as stack:
        yield stack


def test_scripted_customers_reach_the_right_order(sport_stack):
    customers = load_customers()
    assert len(customers) >= 40
    outcomes = run_customers(sport_stack, customers, concurrency=5)
    correct = [o for o in outcomes if o.outcome == CORRECT]
    wrong = [o for o in outcomes if o.outcome == WRONG]
    failing = [o for o in outcomes if o.outcome != CORRECT]
    report = table(outcomes) + "\n\n" + "\n\n".join(o.describe() for o in failing)
    assert not wrong and len(correct) >= REQUIRED_SHARE * len(outcomes), report
