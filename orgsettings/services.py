"""Writes from the settings pages: renames, key status and rate limits; all audited.

Ingest keys are created and revoked by ``usage.ingest.keys``."""

from django.db import transaction

from console.models import Account, ApiKey, LlmModel, Organization, Workspace
from console.services import record_audit
from usage.models import RateLimit

LIMIT_FIELDS = ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute")


@transaction.atomic
def rename_workspace(workspace: Workspace, name: str, *, actor) -> Workspace:
    """Give a workspace another display name (the Default workspace keeps its own)."""
    if workspace.is_default:
        raise ValueError("The Default workspace keeps its name.")
    before = workspace.name
    if before != name:
        workspace.name = name
        workspace.save(update_fields=["name"])
        record_audit(
            workspace.org,
            actor,
            "workspace.rename",
            target=workspace.external_id or "default",
            before={"name": before},
            after={"name": name},
        )
    return workspace


@transaction.atomic
def link_account(account: Account, member, *, actor) -> Account:
    """Link an account to a member (or unlink it, ``member`` None): the member then sees the
    account's usage on My usage, whatever the account's email."""
    before = account.member.email if account.member else None
    after = member.email if member else None
    if before != after:
        account.member = member
        account.save(update_fields=["member"])
        record_audit(
            account.org,
            actor,
            "account.link",
            target=account.external_id,
            before={"member": before},
            after={"member": after},
        )
    return account


@transaction.atomic
def rename_api_key(key: ApiKey, name: str, *, actor) -> ApiKey:
    """Give an API key another display name."""
    before = key.name
    if before != name:
        key.name = name
        key.save(update_fields=["name"])
        record_audit(
            key.org,
            actor,
            "api_key.rename",
            target=key.external_id,
            before={"name": before},
            after={"name": name},
        )
    return key


@transaction.atomic
def set_api_key_status(key: ApiKey, status: str, *, actor) -> ApiKey:
    """Disable an API key, or make a disabled one active again."""
    if status not in ApiKey.Status.values:
        raise ValueError(f"{status!r} is not a key status.")
    before = key.status
    if before != status:
        key.status = status
        key.save(update_fields=["status"])
        action = "api_key.disable" if status == ApiKey.Status.DISABLED else "api_key.enable"
        record_audit(
            key.org,
            actor,
            action,
            target=key.external_id,
            before={"status": before},
            after={"status": status},
        )
    return key


@transaction.atomic
def set_rate_limit(org: Organization, model: LlmModel, *, actor, **limits) -> RateLimit | None:
    """Set the org's per-minute limits for a model; all empty removes them."""
    values = {f: limits.get(f) for f in LIMIT_FIELDS}
    current = RateLimit.objects.select_for_update().filter(org=org, model=model).first()
    before = {f: getattr(current, f) for f in LIMIT_FIELDS} if current else None
    if all(v is None for v in values.values()):
        if current:
            current.delete()
        after, result = None, None
    else:
        result, _ = RateLimit.objects.update_or_create(org=org, model=model, defaults=values)
        after = values
    if before != after:
        record_audit(
            org, actor, "rate_limit.set", target=model.model_id, before=before, after=after
        )
    return result
