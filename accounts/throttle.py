"""Slow down, then lock, repeated failed sign-ins for one account or from one address.

Failures are rows in the database (not a per-process cache), so every web process sees the
same count. Within a sliding window, after a few failures each further attempt must wait a
growing delay after the last failure; after more failures the account or address is locked
until the window has passed since the last failure. While slowed or locked, the password is
not even checked, so guessing gains nothing, and the lock applies to any email typed, so it
does not reveal which accounts exist. A successful sign-in, or a password reset completed
through the emailed link, lifts the account's count; the addresses the failures came from
keep theirs.

Behind a proxy every request comes from the proxy, so the client's address is read from
the proxy's X-Forwarded-For, but only when the peer is one of ``settings.TRUSTED_PROXIES``.
"""

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from accounts.models import LoginFailure


@dataclass(frozen=True)
class Policy:
    slow_after: int  # failures before each attempt must wait
    lock_after: int  # failures that lock for the rest of the window


WINDOW = timedelta(minutes=getattr(settings, "LOGIN_THROTTLE_WINDOW_MINUTES", 15))
ACCOUNT = Policy(slow_after=3, lock_after=10)
# Many people can share one address (an office behind NAT), so an address gets more room.
ADDRESS = Policy(slow_after=20, lock_after=50)
MAX_DELAY_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0
    locked: bool = False

    @property
    def message(self) -> str:
        if self.locked:
            minutes = max(1, -(-self.retry_after_seconds // 60))
            return (
                "Too many failed sign-ins: signing in to this account or from this address is "
                f"locked for {minutes} more minute{'s' if minutes != 1 else ''}. "
                "You can reset your password meanwhile."
            )
        return (
            "Too many failed sign-ins. Please wait "
            f"{self.retry_after_seconds} second{'s' if self.retry_after_seconds != 1 else ''} "
            "before trying again."
        )


def normalize(username: str) -> str:
    return (username or "").strip().lower()[:254]


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    # A server listening on IPv6 reports IPv4 peers as ::ffff:a.b.c.d; they are one address.
    return getattr(ip, "ipv4_mapped", None) or ip


def _trusted(ip) -> bool:
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_address(request) -> str | None:
    """The peer's address, or, when the peer is a trusted proxy, the client it forwarded for."""
    if request is None:
        return None
    address = _ip(request.META.get("REMOTE_ADDR"))
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    # Each proxy appends the peer it saw, so from the right every entry up to the first
    # address that is not a trusted proxy was written by a trusted proxy; whatever stands
    # left of it the client may have written itself.
    while address is not None and _trusted(address) and hops:
        forwarded = _ip(hops.pop())
        if forwarded is None:
            break
        address = forwarded
    return str(address) if address is not None else None


def _delay_seconds(failures: int, policy: Policy) -> int:
    # 1 s after the first counted failure, doubling each time, capped.
    return min(MAX_DELAY_SECONDS, 2 ** (failures - policy.slow_after))


def _judge(failures: int, last_at, policy: Policy, now) -> Verdict:
    if failures >= policy.lock_after:
        wait = (last_at + WINDOW - now).total_seconds()
        if wait > 0:
            return Verdict(False, int(wait) + 1, locked=True)
    elif failures >= policy.slow_after:
        wait = (last_at + timedelta(seconds=_delay_seconds(failures, policy)) - now).total_seconds()
        if wait > 0:
            return Verdict(False, int(wait) + 1)
    return Verdict(True)


def check(username: str, ip_address: str | None) -> Verdict:
    """Whether a sign-in attempt may be checked now, and if not, for how long to wait."""
    now = timezone.now()
    since = now - WINDOW
    recent = LoginFailure.objects.filter(created_at__gte=since)
    verdicts = []
    name = normalize(username)
    if name:  # an empty name marks failures no longer held against any account
        account = recent.filter(username=name).aggregate(n=Count("id"), last=Max("created_at"))
        if account["n"]:
            verdicts.append(_judge(account["n"], account["last"], ACCOUNT, now))
    if ip_address:
        address = recent.filter(ip_address=ip_address).aggregate(
            n=Count("id"), last=Max("created_at")
        )
        if address["n"]:
            verdicts.append(_judge(address["n"], address["last"], ADDRESS, now))
    refused = [v for v in verdicts if not v.allowed]
    if not refused:
        return Verdict(True)
    return max(refused, key=lambda v: (v.locked, v.retry_after_seconds))


def record_failure(username: str, ip_address: str | None) -> None:
    """Count one failed sign-in, and forget failures older than the window."""
    now = timezone.now()
    LoginFailure.objects.create(username=normalize(username), ip_address=ip_address, created_at=now)
    LoginFailure.objects.filter(created_at__lt=now - WINDOW).delete()


def forget_account(username: str) -> None:
    """Lift the account's count once its owner has signed in or reset the password."""
    # The failures still count for the addresses they came from: proving the account is
    # yours says nothing about them, and deleting the rows would hand a guesser who locked
    # the account a fresh allowance at every reset.
    LoginFailure.objects.filter(username=normalize(username)).update(username="")
