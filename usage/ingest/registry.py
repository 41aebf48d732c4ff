"""The registry of what a chunk names: workspaces, API keys, models, accounts and series,
created on first sight (a few set-based statements per chunk), and the API key claims.

An API key belongs to the workspace it was first seen with; ``claim_keys`` rejects records
naming it with another.
"""

from __future__ import annotations

from django.db import connection

from console.models import (
    Account,
    ApiKey,
    LlmModel,
    Organization,
    Workspace,
    account_email,
    describe_model,
)
from usage.ingest.contract import Rejection, clean_name
from usage.models import Series


class Registry:
    """What one call has resolved so far: external ids to primary keys, series ids."""

    def __init__(self, org: Organization):
        self.org = org
        self.default_workspace = Workspace.objects.get(org=org, is_default=True).pk
        self.workspaces: dict[str | None, int] = {None: self.default_workspace}
        self.key_workspace: dict[str, str | None] = {}  # key external id -> ws external id
        self.keys: dict[str, int] = {}
        self.models: dict[str, int] = {}
        self.accounts: dict[str | None, int | None] = {None: None}
        self.series: dict[tuple, int] = {}

    def load_keys(self, external_ids: set[str]) -> None:
        """Learn which workspace each already-registered key of the chunk belongs to."""
        missing = [key for key in external_ids if key not in self.key_workspace]
        for start in range(0, len(missing), 500):
            for key_id, external_id, workspace_external_id in ApiKey.objects.filter(
                org=self.org, external_id__in=missing[start : start + 500]
            ).values_list("pk", "external_id", "workspace__external_id"):
                self.keys[external_id] = key_id
                self.key_workspace[external_id] = workspace_external_id

    def register(self, rows: list[tuple]) -> bool:
        """Create the workspaces, keys, models, accounts and series the rows need (first-sight
        names).

        Returns True when a concurrent ingest registered one of the new API keys first, in
        another workspace; the caller then checks the claims again.
        """
        series = self.series
        new_dims = {}
        for row in rows:
            if row[2] not in series and row[2] not in new_dims:
                new_dims[row[2]] = row
        if not new_dims:
            return False  # the usual case once the first chunks have been stored
        self._workspaces(new_dims.values())
        self._models({dims[2] for dims in new_dims})
        lost_race = self._keys(new_dims.values())
        self._accounts(new_dims.values())
        self._series(new_dims)
        return lost_race

    def _workspaces(self, rows) -> None:
        wanted: dict[str, str] = {}
        for row in rows:
            external_id = row[2][0]
            if external_id not in self.workspaces and external_id not in wanted:
                wanted[external_id] = clean_name(row[3]) or external_id
        if not wanted:
            return
        Workspace.objects.bulk_create(
            [Workspace(org=self.org, external_id=e, name=n) for e, n in wanted.items()],
            ignore_conflicts=True,
        )
        self.workspaces.update(
            Workspace.objects.filter(org=self.org, external_id__in=list(wanted)).values_list(
                "external_id", "pk"
            )
        )

    def _models(self, model_ids: set[str]) -> None:
        wanted = sorted(m for m in model_ids if m not in self.models)
        if not wanted:
            return
        self.models.update(
            LlmModel.objects.filter(model_id__in=wanted).values_list("model_id", "pk")
        )
        missing = [m for m in wanted if m not in self.models]
        if missing:
            new = []
            for model_id in missing:
                display_name, family = describe_model(model_id)
                new.append(LlmModel(model_id=model_id, display_name=display_name, family=family))
            LlmModel.objects.bulk_create(new, ignore_conflicts=True)
            self.models.update(
                LlmModel.objects.filter(model_id__in=missing).values_list("model_id", "pk")
            )

    def _accounts(self, rows) -> None:
        wanted: dict[str, tuple[str, str]] = {}
        for row in rows:
            external_id = row[2][5]
            if external_id not in self.accounts and external_id not in wanted:
                name = clean_name(row[-1]) or external_id
                wanted[external_id] = (name, account_email(name, external_id))
        if not wanted:
            return
        Account.objects.bulk_create(
            [
                Account(org=self.org, external_id=e, name=n[:200], email=m)
                for e, (n, m) in wanted.items()
            ],
            ignore_conflicts=True,
        )
        ids = list(wanted)
        for start in range(0, len(ids), 500):
            self.accounts.update(
                Account.objects.filter(
                    org=self.org, external_id__in=ids[start : start + 500]
                ).values_list("external_id", "pk")
            )

    def _keys(self, rows) -> bool:
        wanted: dict[str, tuple[int, str]] = {}
        claimed: dict[str, str | None] = {}
        for row in rows:
            external_id = row[2][1]
            if (
                external_id is not None
                and external_id not in self.keys
                and external_id not in wanted
            ):
                workspace = self.workspaces[row[2][0]]
                wanted[external_id] = (workspace, clean_name(row[4]) or external_id)
                claimed[external_id] = row[2][0]
        if not wanted:
            return False
        ApiKey.objects.bulk_create(
            [
                ApiKey(org=self.org, workspace_id=w, external_id=e, name=n)
                for e, (w, n) in wanted.items()
            ],
            ignore_conflicts=True,
        )
        self.load_keys(set(wanted))
        return any(self.key_workspace[e] != w for e, w in claimed.items())

    def _series(self, new_dims: dict) -> None:
        workspaces, keys, models, accounts = self.workspaces, self.keys, self.models, self.accounts
        wanted = {}
        for dims in new_dims:
            workspace, key, model, tier, context, account = dims
            if key is not None and self.key_workspace[key] != workspace:
                continue  # claimed elsewhere meanwhile; these rows are rejected
            resolved = (
                workspaces[workspace],
                keys[key] if key is not None else None,
                models[model],
                tier,
                context,
                accounts[account],
            )
            wanted[resolved] = dims
        if not wanted:
            return
        # Bases first: an account series points at the account-free series of its other
        # dimensions, under which the minute, hour and day buckets count its usage.
        bases = {(*resolved[:5], None): None for resolved in wanted}
        found = list(self._upsert_series(list(bases), {}))
        base_ids = {tuple(resolved): pk for pk, *resolved in found}
        with_account = [resolved for resolved in wanted if resolved[5] is not None]
        if with_account:
            found += self._upsert_series(with_account, base_ids)
        for pk, *resolved in found:
            dims = wanted.get(tuple(resolved))
            if dims is not None:
                self.series[dims] = pk

    def _upsert_series(self, wanted: list[tuple], base_ids: dict) -> list[tuple]:
        """Create the series of ``wanted`` dimensions that do not exist yet (those with an
        account pointing at their base, whose id ``base_ids`` maps their account-free
        dimensions to); return (pk, *dimensions) of each."""
        bases = [base_ids[(*resolved[:5], None)] if resolved[5] else None for resolved in wanted]
        if connection.vendor == "postgresql":
            return self._upsert_series_postgres(wanted, bases)
        return self._upsert_series_orm(wanted, bases)

    def _upsert_series_orm(self, wanted: list[tuple], bases: list) -> list[tuple]:
        Series.objects.bulk_create(
            [
                Series(
                    org=self.org,
                    workspace_id=w,
                    api_key_id=k,
                    model_id=m,
                    service_tier=t,
                    context_window=c,
                    account_id=a,
                    base_id=base,
                )
                for (w, k, m, t, c, a), base in zip(wanted, bases, strict=True)
            ],
            ignore_conflicts=True,
        )
        found = Series.objects.filter(
            org=self.org,
            workspace_id__in={w for w, *_ in wanted},
            model_id__in={m for _, _, m, *_ in wanted},
        ).values_list(
            "pk",
            "workspace_id",
            "api_key_id",
            "model_id",
            "service_tier",
            "context_window",
            "account_id",
        )
        wanted_set = set(wanted)
        return [row for row in found if tuple(row[1:]) in wanted_set]

    def _upsert_series_postgres(self, wanted: list[tuple], bases: list) -> list[tuple]:
        columns = [list(column) for column in zip(*wanted, strict=True)]
        dimensions = (
            "id, workspace_id, api_key_id, model_id, service_tier, context_window, account_id"
        )
        with connection.cursor() as cursor:
            # The new series come back from the insert itself; only those that existed (or
            # that a concurrent ingest inserted first) are looked up after it: with accounts,
            # thousands of new series a chunk, that second query was as slow as the insert.
            cursor.execute(
                "INSERT INTO usage_series"
                " (org_id, workspace_id, api_key_id, model_id, service_tier, context_window,"
                " account_id, base_id)"
                " SELECT %s, u.* FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[],"
                " %s::text[], %s::text[], %s::bigint[], %s::bigint[])"
                " AS u(workspace_id, api_key_id, model_id, service_tier, context_window,"
                f" account_id, base_id) ON CONFLICT DO NOTHING RETURNING {dimensions}",
                [self.org.pk, *columns, bases],
            )
            found = cursor.fetchall()
            if len(found) == len(wanted):
                return found
            created = {tuple(row[1:]) for row in found}
            missing = [resolved for resolved in wanted if resolved not in created]
            columns = [list(column) for column in zip(*missing, strict=True)]
            cursor.execute(
                "SELECT s.id, s.workspace_id, s.api_key_id, s.model_id, s.service_tier,"
                " s.context_window, s.account_id FROM unnest(%s::bigint[], %s::bigint[],"
                " %s::bigint[], %s::text[], %s::text[], %s::bigint[])"
                " AS u(workspace_id, api_key_id, model_id, service_tier, context_window,"
                " account_id) JOIN usage_series s"
                " ON s.org_id = %s AND s.workspace_id = u.workspace_id"
                " AND COALESCE(s.api_key_id, 0) = COALESCE(u.api_key_id, 0)"
                " AND s.model_id = u.model_id AND s.service_tier = u.service_tier"
                " AND s.context_window = u.context_window"
                " AND COALESCE(s.account_id, 0) = COALESCE(u.account_id, 0)",
                [*columns, self.org.pk],
            )
            return found + cursor.fetchall()


def claim_keys(
    checked: list, registry: Registry, rejections: list[Rejection]
) -> list[tuple[int, tuple]]:
    """Drop records whose API key belongs to another workspace (first claim wins).

    Decided once per distinct dimensions, in the order they first appear (which is the
    order of the first record using each key), not once per record.
    """
    refused = refused_claims(dict.fromkeys([row[2] for _, row in checked]), registry)
    if not refused:
        return checked
    kept = []
    for position, row in checked:
        dims = row[2]
        if dims in refused:
            rejections.append(refusal(position, row[0], dims, refused[dims]))
            continue
        kept.append((position, row))
    return kept


def refused_claims(distinct, registry: Registry) -> dict[tuple, str | None]:
    """The dimensions (of ``distinct``, in first-appearance order) whose API key belongs to
    another workspace, each with that workspace's external id."""
    keys = {dims[1] for dims in distinct if dims[1] is not None}
    if not keys:
        return {}
    registry.load_keys(keys)
    owners = registry.key_workspace
    claims: dict[str, str | None] = {}
    refused: dict[tuple, str | None] = {}
    for dims in distinct:
        workspace, key = dims[0], dims[1]
        if key is not None:
            owner = owners[key] if key in owners else claims.setdefault(key, workspace)
            if owner != workspace:
                refused[dims] = owner
    return refused


def refusal(position: int, request_id: str, dims: tuple, owner: str | None) -> Rejection:
    """The rejection of a record whose API key belongs to workspace ``owner``."""
    workspace, key = dims[0], dims[1]
    return Rejection(
        position,
        request_id,
        "api_key_id",
        f"{key} belongs to workspace {owner or 'Default'}, not {workspace or 'Default'}",
    )
