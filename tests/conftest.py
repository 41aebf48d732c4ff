import pytest

from tests import factories


@pytest.fixture
def org(db):
    return factories.make_org("acme", "Acme")


@pytest.fixture
def other_org(db):
    return factories.make_org("globex", "Globex")
