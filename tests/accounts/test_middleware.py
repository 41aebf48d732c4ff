from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from accounts.middleware import SESSION_KEY, CurrentOrganizationMiddleware
from accounts.models import Membership, Role
from tests import factories


def run(user, session):
    request = RequestFactory().get("/")
    request.user, request.session = user, session
    CurrentOrganizationMiddleware(lambda r: r)(request)
    return request


def test_one_query_loads_every_membership_and_picks_the_session_organisation(
    org, other_org, django_assert_num_queries
):
    person = factories.make_member(org, Role.ADMIN)
    Membership.objects.create(user=person, org=other_org, role=Role.BILLING)

    with django_assert_num_queries(1):
        request = run(person, {SESSION_KEY: other_org.id})

    assert request.org == other_org and request.membership.role == Role.BILLING
    assert [m.org.slug for m in request.memberships] == ["acme", "globex"]


def test_without_a_valid_choice_the_first_organisation_by_name_is_current(org, other_org):
    person = factories.make_member(other_org, Role.DEVELOPER)
    Membership.objects.create(user=person, org=org, role=Role.USER)

    assert run(person, {}).org == org  # "Acme" before "Globex"
    assert run(person, {SESSION_KEY: 987654}).org == org  # a membership since removed


def test_signed_out_and_member_of_nothing(db):
    assert run(AnonymousUser(), {}).org is None
    lonely = run(factories.make_user(), {})
    assert (lonely.org, lonely.membership, lonely.memberships) == (None, None, [])
