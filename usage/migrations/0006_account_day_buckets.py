"""Base series and the account day buckets, the schema (issue 13; the data is 0007's).

With the account in every series, 1,000 accounts made the bucket tables about as large as
the raw logs, so every page read 3-7x more. Now ``Series.base`` points an account series at
its account-free one, under which the minute, hour and day buckets count it, and the new
``AccountDayBucket`` holds UTC days per series as logged (see ``usage.models``). The data
is converted in 0007, in a transaction of its own: PostgreSQL creates this one's indexes at
its end and refuses to while rows written in the same transaction wait for their foreign
key checks.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0002_account"),
        ("usage", "0005_series_account"),
    ]

    operations = [
        migrations.AddField(
            model_name="series",
            name="base",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="usage.series",
            ),
        ),
        migrations.CreateModel(
            name="AccountDayBucket",
            fields=[
                ("uncached_input_tokens", models.BigIntegerField(default=0)),
                ("cache_write_5m_tokens", models.BigIntegerField(default=0)),
                ("cache_write_1h_tokens", models.BigIntegerField(default=0)),
                ("cache_read_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("web_search_requests", models.BigIntegerField(default=0)),
                ("code_execution_ms", models.BigIntegerField(default=0)),
                ("start", models.DateTimeField()),
                ("requests", models.BigIntegerField(default=0)),
                ("rate_limited_requests", models.BigIntegerField(default=0)),
                ("rate_limited_by_requests", models.BigIntegerField(default=0)),
                ("rate_limited_by_input_tokens", models.BigIntegerField(default=0)),
                ("rate_limited_by_output_tokens", models.BigIntegerField(default=0)),
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "org_id",
                        "start",
                        "series_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "org",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="console.organization",
                    ),
                ),
                (
                    "series",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="usage.series",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["org", "series", "start"], name="accountday_series_start"
                    )
                ],
            },
        ),
    ]
