import re
from datetime import timedelta
from ipaddress import ip_network

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import throttle
from accounts.models import LoginFailure, Role
from tests import factories

LOGIN = "/accounts/login/"
PROXY = "10.0.0.2"  # the TLS proxy in front of the web processes
NEW_PASSWORD = "a-fresh-long-passphrase-7"


def _attempt(client, email, password="wrong-password", address="10.0.0.1"):  # noqa: S107
    return client.post(
        reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=address
    )


def _through_proxy(client, email, client_address, password="wrong-password"):  # noqa: S107
    """A sign-in attempt as the proxy passes it on: its own address, the client's in XFF."""
    return client.post(
        reverse("accounts:login"),
        {"username": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=client_address,
    )


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = (ip_network(PROXY), ip_network("172.16.0.0/12"))


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


def test_a_spray_through_the_proxy_does_not_lock_out_other_clients(behind_proxy, person):
    clients = [f"203.0.113.{i}" for i in range(throttle.ADDRESS.lock_after + 10)]
    for i, address in enumerate(clients):
        body = _through_proxy(Client(), f"guess{i}@acme.test", address).content.decode()
        assert "Please enter a correct email" in body  # checked, neither slowed nor locked
    assert set(LoginFailure.objects.values_list("ip_address", flat=True)) == set(clients)

    client = Client()
    response = _through_proxy(client, "dev@acme.test", "198.51.100.7", factories.PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_one_client_behind_the_proxy_is_locked_without_locking_the_others(behind_proxy, person):
    for i in range(throttle.ADDRESS.lock_after):
        throttle.record_failure(f"guess{i}@acme.test", "203.0.113.66")
    guesser = _through_proxy(Client(), "dev@acme.test", "203.0.113.66", factories.PASSWORD)
    assert "locked" in guesser.content.decode()
    owner = _through_proxy(Client(), "dev@acme.test", "198.51.100.7", factories.PASSWORD)
    assert owner.status_code == 302


def test_a_forged_forwarding_header_does_not_dodge_the_address_lock(behind_proxy, person):
    # Straight to the web process, not through the proxy, a new made-up client every time.
    for i in range(throttle.ADDRESS.lock_after):
        throttle.record_failure(f"guess{i}@acme.test", "198.51.100.99")
    response = Client().post(
        reverse("accounts:login"),
        {"username": "dev@acme.test", "password": factories.PASSWORD},
        REMOTE_ADDR="198.51.100.99",
        HTTP_X_FORWARDED_FOR="203.0.113.1",
    )
    assert "locked" in response.content.decode()


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "expected"),
    [
        # From the trusted proxy: the client it forwarded for.
        (PROXY, "203.0.113.5", "203.0.113.5"),
        # A client's own X-Forwarded-For is kept left of what the proxy appends.
        (PROXY, "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        # Several trusted hops: the right-most address that is not one of them.
        (PROXY, "1.2.3.4, 203.0.113.5, 172.16.4.4, 172.20.0.1", "203.0.113.5"),
        # Only trusted hops: the farthest one named.
        (PROXY, "172.16.4.4", "172.16.4.4"),
        # A hop that is not an address ends the walk at the last trusted one.
        (PROXY, "203.0.113.5, unknown", PROXY),
        (PROXY, "", PROXY),
        (f"::ffff:{PROXY}", "203.0.113.5", "203.0.113.5"),
        (PROXY, "2001:db8::7", "2001:db8::7"),
        # From anyone else the header is ignored: a client can write it.
        ("198.51.100.20", "203.0.113.5", "198.51.100.20"),
        ("198.51.100.20", f"203.0.113.5, {PROXY}", "198.51.100.20"),
        ("::ffff:198.51.100.20", "", "198.51.100.20"),
        ("", "203.0.113.5", None),
    ],
)
def test_client_address(behind_proxy, remote_addr, forwarded_for, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert throttle.client_address(request) == expected


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = ()
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert throttle.client_address(request) == PROXY


def _reset_password(client, email, password, mailoutbox):
    """Ask for a reset link, open it from the email and choose a new password."""
    client.post(reverse("accounts:password_reset"), {"email": email})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mailoutbox[-1].body)
    form_url = client.get(link.group(1))["Location"]  # Django swaps the token into the session
    response = client.post(form_url, {"new_password1": password, "new_password2": password})
    assert response["Location"] == reverse("accounts:password_reset_complete")


def test_a_password_reset_lifts_the_account_lock(client, person, mailoutbox):
    for i in range(throttle.ACCOUNT.lock_after):
        throttle.record_failure("dev@acme.test", f"203.0.113.{i}")
    assert "locked" in _attempt(client, "dev@acme.test", factories.PASSWORD).content.decode()

    _reset_password(Client(), "dev@acme.test", NEW_PASSWORD, mailoutbox)

    response = _attempt(client, "dev@acme.test", NEW_PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


@pytest.mark.parametrize("owner_proves_it", ["signs in", "resets the password"])
def test_the_owner_lifts_the_account_count_not_the_guessers_address(
    client, person, mailoutbox, owner_proves_it
):
    # The guesser tried this account twice, and others up to the address lock.
    throttle.record_failure("dev@acme.test", "10.9.9.9")
    throttle.record_failure("dev@acme.test", "10.9.9.9")
    for i in range(throttle.ADDRESS.lock_after - 2):
        throttle.record_failure(f"guess{i}@acme.test", "10.9.9.9")

    if owner_proves_it == "signs in":
        assert _attempt(client, "dev@acme.test", factories.PASSWORD).status_code == 302
    else:
        _reset_password(client, "dev@acme.test", NEW_PASSWORD, mailoutbox)

    assert throttle.check("dev@acme.test", "10.1.1.1").allowed
    assert throttle.check("dev@acme.test", "10.9.9.9").locked
