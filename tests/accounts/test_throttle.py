from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import throttle
from accounts.models import LoginFailure, Role
from tests import factories

LOGIN = "/accounts/login/"


def _attempt(client, email, password="wrong-password", address="10.0.0.1"):  # noqa: S107
    return client.post(
        reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=address
    )


def _age_failures(seconds: float) -> None:
    """Pretend the recorded failures happened ``seconds`` earlier."""
    for failure in LoginFailure.objects.all():
        failure.created_at -= timedelta(seconds=seconds)
        failure.save(update_fields=["created_at"])


@pytest.fixture
def person(org):
    return factories.make_member(org, Role.DEVELOPER, "dev@acme.test")


def test_good_password_signs_in(client, person):
    response = _attempt(client, "dev@acme.test", factories.PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_account_is_slowed_after_three_failures_then_locked(client, person):
    for _ in range(throttle.ACCOUNT.slow_after):
        response = _attempt(client, "dev@acme.test")
        assert "Please enter a correct email" in response.content.decode()

    # Slowed: even the right password is not checked until the delay has passed.
    response = _attempt(client, "dev@acme.test", factories.PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-ins. Please wait 1 second" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginFailure.objects.count() == throttle.ACCOUNT.slow_after  # waiting is not failing

    # Keep failing, each time after the delay, up to the lock.
    while LoginFailure.objects.count() < throttle.ACCOUNT.lock_after:
        _age_failures(throttle.MAX_DELAY_SECONDS)
        assert "Please enter a correct email" in _attempt(client, "dev@acme.test").content.decode()

    _age_failures(throttle.MAX_DELAY_SECONDS)
    body = _attempt(client, "dev@acme.test", factories.PASSWORD).content.decode()
    assert "locked for 14 more minutes" in body
    assert "_auth_user_id" not in client.session

    # The lock lifts once the window has passed since the last failure.
    _age_failures(throttle.WINDOW.total_seconds())
    assert _attempt(client, "dev@acme.test", factories.PASSWORD).status_code == 302


def test_the_delay_doubles(client, person):
    for _ in range(throttle.ACCOUNT.slow_after + 2):
        _age_failures(throttle.MAX_DELAY_SECONDS)
        _attempt(client, "dev@acme.test")
    assert "Please wait 4 seconds" in _attempt(client, "dev@acme.test").content.decode()


def test_lock_is_per_account_and_does_not_reveal_whether_it_exists(person):
    verdicts = []
    for email in ("dev@acme.test", "nobody@acme.test"):
        for _ in range(throttle.ACCOUNT.lock_after):
            throttle.record_failure(email, None)
        verdicts.append(throttle.check(email, None))
    assert verdicts[0] == verdicts[1]
    assert verdicts[0].locked
    assert throttle.check("other@acme.test", None).allowed


def test_email_case_and_spaces_do_not_dodge_the_count(client, person):
    for email in ("dev@acme.test", "DEV@acme.test", " Dev@Acme.test "):
        _attempt(client, email)
    assert not throttle.check("dev@acme.test", None).allowed


def test_one_address_trying_many_accounts_is_locked(client, person):
    for i in range(throttle.ADDRESS.lock_after):
        throttle.record_failure(f"guess{i}@acme.test", "10.9.9.9")
    body = _attempt(client, "dev@acme.test", factories.PASSWORD, address="10.9.9.9")
    assert "locked" in body.content.decode()
    # The same account from elsewhere is fine.
    assert _attempt(Client(), "dev@acme.test", factories.PASSWORD, "10.1.1.1").status_code == 302


def test_success_clears_the_accounts_failures(client, person):
    _attempt(client, "dev@acme.test")
    _attempt(client, "dev@acme.test")
    assert _attempt(client, "dev@acme.test", factories.PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(username="dev@acme.test").exists()


def test_old_failures_are_forgotten(person):
    LoginFailure.objects.create(
        username="dev@acme.test", created_at=timezone.now() - throttle.WINDOW * 2
    )
    throttle.record_failure("dev@acme.test", None)
    assert LoginFailure.objects.count() == 1


def test_the_operators_admin_login_is_throttled_too(person):
    staff = factories.make_user("ops@x.test", is_staff=True)
    client = Client()
    for _ in range(throttle.ACCOUNT.lock_after):
        throttle.record_failure("ops@x.test", None)
    response = client.post(
        "/ops/admin/login/", {"username": staff.email, "password": factories.PASSWORD}
    )
    assert response.status_code == 200
    assert "locked" in response.content.decode()
    assert "_auth_user_id" not in client.session
