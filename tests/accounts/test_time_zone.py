"""The time-zone control's POST (accounts.views.save_time_zone): the one way a report saves
a zone; its CSRF check and the round trip from both pages are in test_filters.py."""

import pytest

from accounts.models import Role, User
from tests import factories

SAVE = "/time-zone/"


@pytest.fixture
def person(client, org):
    user = factories.make_member(org, Role.DEVELOPER)
    client.force_login(user)
    return user


def test_anonymous_goes_to_login(client, db):
    response = client.post(SAVE, {"tz": "Asia/Tokyo", "next": "/usage/"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_get_saves_nothing(client, person):
    assert client.get(SAVE, {"tz": "Asia/Tokyo"}).status_code == 405
    assert User.objects.get(pk=person.pk).time_zone == "UTC"


def test_saves_and_goes_back_to_the_view(client, person):
    response = client.post(SAVE, {"tz": "Asia/Kolkata", "next": "/cost/?month=2026-05"})
    assert response.status_code == 302 and response["Location"] == "/cost/?month=2026-05"
    assert User.objects.get(pk=person.pk).time_zone == "Asia/Kolkata"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", ""])
def test_never_goes_back_to_another_site(client, person, next_url):
    response = client.post(SAVE, {"tz": "Asia/Kolkata", "next": next_url})
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd"])
def test_an_unknown_zone_is_a_400_naming_the_control(client, person, zone):
    response = client.post(SAVE, {"tz": zone, "next": "/usage/"})
    assert response.status_code == 400
    assert response.content.decode().startswith("Time zone: ")
    assert User.objects.get(pk=person.pk).time_zone == "UTC"
