import smtplib

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services, throttle
from accounts.access import admin_required, scoped
from accounts.context_processors import NAV_ITEMS
from accounts.forms import AcceptInvitationForm, AuditFilterForm, InviteForm, RoleForm
from accounts.middleware import SESSION_KEY
from accounts.models import Role, User
from console.confirm import confirm_page, confirmed
from console.filters import TimeZoneForm

AUDIT_PAGE_SIZE = 50
# The session key of a new invitation's link, shown once on the next members page.
INVITE_LINK_KEY = "accounts.new_invitation"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's new-password-by-emailed-link page, which also lifts the sign-in lock."""

    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # The link proves the mailbox, so the new password must work at once; otherwise
        # anyone knowing the address could keep its owner out with a few wrong guesses.
        throttle.forget_account(form.user.get_username())
        return response


@require_GET
@login_required
def home(request):
    """Send people to the first page they may open, or tell them there is none."""
    membership = request.membership
    if membership is not None:
        for _section, _label, name, roles in NAV_ITEMS:
            if membership.role in roles:
                return redirect(name)
        return render(request, "console/home.html")
    return render(request, "console/home.html", {"removal": selectors.last_removal(request.user)})


@require_POST
@login_required
def save_time_zone(request):
    """Save the zone chosen with the reports' time-zone control, then go back to the view.

    The only way a report changes the saved zone: a ``tz`` in a link shows that view in
    another zone and saves nothing (a shared or cross-site link must not change what a
    person sees on later pages), and this POST is CSRF-protected.
    """
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        text = " ".join(f"{form.fields[f].label}: {m}" for f, e in form.errors.items() for m in e)
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    zone = form.cleaned_data["tz"]
    User.objects.filter(pk=request.user.pk).update(time_zone=zone)
    messages.success(request, f"Your time zone is now {zone}.")
    back = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "console:home"
    return redirect(back)


@require_POST
@login_required
def switch_organization(request):
    """Make another of the person's organisations the current one."""
    membership = request.user.memberships.filter(org__slug=request.POST.get("org", "")).first()
    if membership is None:
        raise Http404("No such organisation.")
    request.session[SESSION_KEY] = membership.org_id
    return redirect("console:home")


def _members_page(request, invite_form=None, status=200):
    context = {
        "new_invitation": request.session.pop(INVITE_LINK_KEY, None),
        "members": selectors.members(request.org),
        "invitations": selectors.pending_invitations(request.org),
        "admin_count": selectors.admin_count(request.org),
        "invite_form": invite_form or InviteForm(),
        "roles": Role.choices,
    }
    return render(request, "accounts/members.html", context, status=status)


@require_GET
@admin_required
def members(request):
    """Members with role and last sign-in, pending invitations, and the invite form."""
    return _members_page(request)


@require_POST
@admin_required
def invite(request):
    """Invite someone by email with a role; the link is emailed and shown to the Admin."""
    form = InviteForm(request.POST)
    if form.is_valid():
        replaces = services.pending_invitations(request.org, form.cleaned_data["email"]).exists()
        try:
            invitation, token = services.invite(
                request.org,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error("email", exc)
        else:
            link = request.build_absolute_uri(reverse("accounts:accept_invitation", args=[token]))
            try:
                services.send_invitation_email(invitation, link)
            except (OSError, smtplib.SMTPException):
                # The invitation stands: the Admin can still hand the link over.
                mailed = False
            else:
                mailed = True
            # Shown once on the next members page, in a box with a copy button, rather than
            # inside a message's sentence.
            request.session[INVITE_LINK_KEY] = {
                "email": invitation.email,
                "link": link,
                "expires": f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
                "mailed": mailed,
            }
            if mailed:
                messages.success(
                    request,
                    f"Invitation sent to {invitation.email} as "
                    f"{invitation.get_role_display()}: the link was emailed to them."
                    + (" It replaces the invitation sent earlier, whose link no longer works."
                       if replaces else ""),
                )  # fmt: skip
            else:
                messages.error(
                    request,
                    f"The invitation for {invitation.email} as {invitation.get_role_display()} "
                    "was created, but the email could not be sent: copy the link below and "
                    "send it yourself.",
                )
            return redirect("accounts:members")
    return _members_page(request, invite_form=form, status=400)


@require_POST
@scoped(selectors.member)
@admin_required
def change_role(request, membership):
    """Give a member another role (never leaving the organisation without an Admin)."""
    form = RoleForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose one of the roles.")
    try:
        membership = services.change_role(membership, form.cleaned_data["role"], actor=request.user)
    except services.LastAdminError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display()}."
        )
    return redirect("accounts:members")


@require_http_methods(["GET", "POST"])
@scoped(selectors.member)
@admin_required
def remove_member(request, membership):
    """Take a member out of the organisation (never the last Admin), once confirmed.

    GET (the Remove link) and an unconfirmed POST show the confirmation page; only its own
    POST, which carries ``confirm=yes``, acts, so one click never removes anyone.
    """
    if not confirmed(request):
        you = membership.user_id == request.user.pk
        return confirm_page(
            request,
            cancel_url=reverse("accounts:members"),
            title=f"Remove {membership.user.email}?",
            question=(
                f"Remove {'yourself' if you else membership.user.email} "
                f"({membership.get_role_display()}) from {request.org.name}?"
            ),
            consequence=(
                "You lose access to this organisation at once; another Admin can invite you again."
                if you
                else "They lose access to this organisation's pages at once. Their usage "
                "stays in the reports. An Admin can invite them again."
            ),
            button=f"Remove {'me' if you else membership.user.email}",
        )
    try:
        services.remove_member(membership, actor=request.user)
    except services.LastAdminError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:members")
    messages.success(request, f"{membership.user.email} was removed from {request.org.name}.")
    if membership.user_id == request.user.pk:
        return redirect("console:home")
    return redirect("accounts:members")


@require_http_methods(["GET", "POST"])
@scoped(selectors.invitation)
@admin_required
def revoke_invitation(request, invitation):
    """Withdraw a pending invitation, once confirmed (as ``remove_member``)."""
    if not confirmed(request):
        return confirm_page(
            request,
            cancel_url=reverse("accounts:members"),
            title=f"Withdraw the invitation for {invitation.email}?",
            question=(
                f"Withdraw the invitation for {invitation.email} to join {request.org.name} "
                f"as {invitation.get_role_display()}?"
            ),
            consequence="Its link stops working at once. You can invite them again later.",
            button="Withdraw the invitation",
        )
    try:
        services.revoke_invitation(invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The invitation for {invitation.email} was withdrawn.")
    return redirect("accounts:members")


@require_http_methods(["GET", "POST"])
def accept_invitation(request, token):
    """Open an invitation link: create the account or add the membership, once."""
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        raise Http404("No such invitation.")
    context = {"invitation": invitation}
    problem = invitation.problem()
    if problem:
        context["problem"] = problem
        return render(request, "accounts/invitation.html", context, status=410)

    existing = User.objects.filter(email__iexact=invitation.email).exists()
    if request.user.is_authenticated:
        if request.user.email.lower() != invitation.email.lower():
            context["problem"] = (
                f"This invitation is for {invitation.email}, but you are signed in as "
                f"{request.user.email}. Log out, then open the link again."
            )
            return render(request, "accounts/invitation.html", context, status=403)
        if request.method == "POST":
            return _accepted(request, invitation, user=request.user)
        return render(request, "accounts/invitation.html", context)
    if existing:
        context["login_url"] = f"{reverse('accounts:login')}?{urlencode({'next': request.path})}"
        return render(request, "accounts/invitation.html", context)

    form = AcceptInvitationForm(
        request.POST if request.method == "POST" else None, email=invitation.email
    )
    if request.method == "POST" and form.is_valid():
        return _accepted(
            request,
            invitation,
            name=form.cleaned_data["name"],
            password=form.cleaned_data["password1"],
        )
    context["form"] = form
    return render(
        request, "accounts/invitation.html", context, status=400 if form.is_bound else 200
    )


def _accepted(request, invitation, **kwargs):
    try:
        membership = services.accept_invitation(invitation, **kwargs)
    except services.InvitationError as exc:
        return render(
            request,
            "accounts/invitation.html",
            {"invitation": invitation, "problem": exc.message},
            status=410,
        )
    if not request.user.is_authenticated:
        login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = membership.org_id
    messages.success(
        request, f"Welcome to {membership.org.name}: you are {membership.get_role_display()}."
    )
    return redirect("console:home")


@require_GET
@admin_required
def audit_log(request):
    """The organisation's audit log, newest first, filterable by action, paginated."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "accounts/audit_log.html", {"form": form}, status=400)
    action = form.cleaned_data["action"]
    paginator = Paginator(selectors.audit_entries(request.org, action), AUDIT_PAGE_SIZE)
    page_number = form.cleaned_data["page"] or 1
    if page_number > paginator.num_pages:
        raise Http404("No such page.")
    context = {
        "form": form,
        "page": paginator.page(page_number),
        "action": action,
        "actions": selectors.audit_actions(request.org),
    }
    return render(request, "accounts/audit_log.html", context)
