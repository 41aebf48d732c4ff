import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Membership, Role, User
from console.models import Organization


def run(*args) -> str:
    out = StringIO()
    call_command("create_org", *args, stdout=out)
    return out.getvalue()


def test_creates_the_organisation_its_default_workspace_and_first_admin(client, db):
    output = run("acme", "--name", "Acme Corp", "--admin", "Ops@Acme.example")

    org = Organization.objects.get(slug="acme")
    assert org.name == "Acme Corp"
    assert [(w.name, w.is_default) for w in org.workspaces.all()] == [("Default", True)]
    admin = User.objects.get(email="ops@acme.example")
    assert not admin.has_usable_password()
    assert Membership.objects.get(user=admin, org=org).role == Role.ADMIN

    # The printed one-time link lets the Admin set a password and sign in.
    link = re.search(r"http://127\.0\.0\.1:8000(/\S+)", output).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"] is True
    new_password = "a-long-and-unusual-passphrase-42"
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert done.status_code == 302
    admin.refresh_from_db()
    assert admin.check_password(new_password)
    # Used once, the link no longer works.
    assert client.get(link, follow=True).context["validlink"] is False


def test_an_existing_person_becomes_admin_of_the_new_organisation(db):
    existing = User.objects.create_user("ops@acme.example", "x-long-password-1")
    run("acme", "--name", "Acme", "--admin", "ops@acme.example")

    assert existing.memberships.get().role == Role.ADMIN
    assert existing.check_password("x-long-password-1")


def test_a_taken_slug_is_refused(db):
    run("acme", "--name", "Acme", "--admin", "a@acme.example")

    with pytest.raises(CommandError, match="already exists"):
        run("acme", "--name", "Other", "--admin", "b@acme.example")
    assert Organization.objects.count() == 1
