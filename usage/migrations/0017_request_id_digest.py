"""De-duplication keys become 16-byte digests of the request ids (``RequestId.digest``).

The table is rebuilt rather than altered in place: a new table of (org, digest) filled in
key order from the old one, which is then dropped. Backwards, a digest does not give its
request id back: the old table is filled from the raw logs still kept, so the keys of
requests whose raw rows were purged are lost (a record sent again would be accepted again).
"""

import hashlib

from django.db import migrations, models

OLD = "usage_requestid_text"


def rebuild(apps, schema_editor):
    connection = schema_editor.connection
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE usage_requestid RENAME TO {OLD}")
        if connection.vendor == "postgresql":
            # The old primary key's index keeps its name, which the new table's needs.
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
                [OLD],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {quote(name)} TO {OLD}_pkey")
    schema_editor.create_model(apps.get_model("usage", "RequestId"))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The same bytes as usage.models.request_digest: the database's encoding is
            # UTF-8, and a uuid's 16 bytes are the digest's first 16. In key order, the
            # primary key's index is filled from left to right.
            cursor.execute(
                "INSERT INTO usage_requestid (org_id, digest) "
                "SELECT org_id, encode(substring(sha256(convert_to(request_id, 'UTF8')) "
                "FROM 1 FOR 16), 'hex')::uuid AS digest "
                f"FROM {OLD} ORDER BY 1, 2"
            )
        else:
            # SQLite's uuid columns hold 32 hex digits (Django's UUIDField).
            cursor.execute(f"SELECT org_id, request_id FROM {OLD}")
            rows = [(org, hashlib.sha256(rid.encode()).hexdigest()[:32]) for org, rid in cursor]
            cursor.executemany("INSERT INTO usage_requestid (org_id, digest) VALUES (%s, %s)", rows)
        cursor.execute(f"DROP TABLE {OLD}")


def restore(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP TABLE usage_requestid")
        cursor.execute(
            "CREATE TABLE usage_requestid (org_id bigint NOT NULL, "
            "request_id varchar(255) NOT NULL, PRIMARY KEY (org_id, request_id))"
        )
        cursor.execute(
            "INSERT INTO usage_requestid (org_id, request_id) "
            "SELECT DISTINCT org_id, request_id FROM usage_requestlog"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0016_bigint_sum"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="requestid", name="request_id"),
                migrations.AddField(
                    model_name="requestid",
                    name="digest",
                    field=models.UUIDField(default=None),
                    preserve_default=False,
                ),
                migrations.AlterField(
                    model_name="requestid",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "org_id",
                        "digest",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        ),
        migrations.RunPython(rebuild, restore, elidable=False),
    ]
