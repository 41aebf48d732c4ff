"""Forms of the Limits page; every error names its field."""

from collections import Counter
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from console.filters import time_zones
from console.models import Account, ApiKey, Workspace
from console.timeslice import YEARS
from spend import chargeback, services
from spend.models import MAX_PERCENT, MIN_PERCENT, Limit, Threshold, WebhookEndpoint

MAX_AMOUNT = Decimal("1e17")


class LimitForm(forms.Form):
    """A limit on the organisation, a workspace or an API key, with its thresholds."""

    name = forms.CharField(max_length=200, strip=True)
    scope = forms.CharField(help_text='"org", "workspace:<id>", "api_key:<id>" or "account:<id>"')
    unit = forms.ChoiceField(choices=Limit.Unit.choices)
    # Read as text so that "1e3", "12.3456789" or "ten" get a message, not a silent rounding.
    amount = forms.CharField(max_length=40, strip=True)
    period = forms.ChoiceField(choices=Limit.Period.choices)
    time_zone = forms.CharField(max_length=64, initial="UTC")
    thresholds = forms.CharField(max_length=200, initial="50, 80, 100")
    forecast = forms.BooleanField(
        required=False, help_text="Also alert when the period-end projection reaches the limit."
    )
    emails = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)
    endpoints = forms.ModelMultipleChoiceField(
        queryset=WebhookEndpoint.objects.none(), required=False
    )
    # One line per threshold whose recipients differ from the ones above, which it replaces:
    # "100: cfo@acme.test, ops" (an email address or a webhook endpoint's name).
    per_threshold = forms.CharField(
        label="Recipients per threshold (optional)",
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One line per threshold, e.g. "100: cfo@acme.test, Ops webhook" or '
        '"forecast: finance@acme.test"; it replaces the recipients above for that threshold.',
    )

    def __init__(self, org, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["endpoints"].queryset = WebhookEndpoint.objects.filter(org=org)

    def clean_scope(self) -> dict:
        value = self.cleaned_data["scope"]
        if value == "org":
            return {}
        kind, _, pk = value.partition(":")
        model = {"workspace": Workspace, "api_key": ApiKey, "account": Account}.get(kind)
        found = None
        if model is not None and pk.isdigit():
            found = model.objects.filter(org=self.org, pk=pk).first()
        if found is None:
            raise ValidationError(
                "Choose the organisation, one of its workspaces, API keys or users."
            )
        return {kind: found}

    def clean_amount(self) -> Decimal:
        raw = self.cleaned_data["amount"].replace(",", "")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ValidationError("Enter an amount such as 250 or 99.50.") from None
        if not amount.is_finite() or "e" in raw.lower() or amount <= 0 or amount >= MAX_AMOUNT:
            raise ValidationError("Enter a positive amount such as 250 or 99.50.")
        if amount.as_tuple().exponent < -6:
            raise ValidationError("At most 6 decimal places (a micro-dollar).")
        return amount

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"]
        if value not in time_zones():
            raise ValidationError("Choose a time zone from the list, such as Europe/Paris.")
        return value

    def clean_thresholds(self) -> list[int]:
        parts = [p.strip().rstrip("%") for p in self.cleaned_data["thresholds"].split(",")]
        if not all(p.isdigit() for p in parts):
            raise ValidationError("Enter whole percentages separated by commas, e.g. 50, 80, 100.")
        percents = sorted({int(p) for p in parts})
        if percents[0] < MIN_PERCENT or percents[-1] > MAX_PERCENT:
            raise ValidationError(f"Each threshold must be {MIN_PERCENT}% to {MAX_PERCENT}%.")
        return percents

    def clean_emails(self) -> list[str]:
        emails = [e.strip() for e in self.cleaned_data["emails"].replace(",", "\n").splitlines()]
        emails = [e for e in emails if e]
        for email in emails:
            try:
                validate_email(email)
            except ValidationError:
                raise ValidationError(f"{email!r} is not an email address.") from None
        return emails

    def _recipient(self, token: str, line: int):
        """An endpoint of the organisation named ``token``, or the email address ``token``."""
        named = [e for e in self.fields["endpoints"].queryset if e.name == token]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise ValidationError(
                f"Line {line}: two webhook endpoints are named {token!r}; rename one."
            )
        try:
            validate_email(token)
        except ValidationError:
            raise ValidationError(
                f"Line {line}: {token!r} is neither an email address nor a webhook endpoint."
            ) from None
        return token

    def clean_per_threshold(self) -> dict:
        """{(kind, percent): (emails, endpoints)} of the lines, checked against the
        thresholds in ``clean``."""
        routes = {}
        for number, text in enumerate(self.cleaned_data["per_threshold"].splitlines(), 1):
            if not text.strip():
                continue
            head, colon, rest = text.partition(":")
            head = head.strip().rstrip("%").strip().lower()
            if not colon or not (head.isdigit() or head == "forecast"):
                raise ValidationError(
                    f'Line {number}: start with a threshold and a colon, e.g. "80: a@acme.test".'
                )
            key = (
                (Threshold.Kind.FORECAST, 100)
                if head == "forecast"
                else (Threshold.Kind.SPEND, int(head))
            )
            if key in routes:
                raise ValidationError(f"Line {number}: {head} has a line already.")
            found = [self._recipient(t.strip(), number) for t in rest.split(",") if t.strip()]
            routes[key] = (
                [r for r in found if isinstance(r, str)],
                [r for r in found if isinstance(r, WebhookEndpoint)],
            )
        return routes

    def clean(self):
        data = super().clean()
        routes, percents = data.get("per_threshold") or {}, data.get("thresholds")
        for kind, percent in routes:
            if kind == Threshold.Kind.FORECAST and not data.get("forecast"):
                self.add_error("per_threshold", "A forecast line needs the forecast alert on.")
            elif kind == Threshold.Kind.SPEND and percents and percent not in percents:
                self.add_error("per_threshold", f"{percent}% is not one of the thresholds.")
        amount, unit, period = data.get("amount"), data.get("unit"), data.get("period")
        if amount is not None and unit == Limit.Unit.TOKENS and amount != amount.to_integral():
            self.add_error("amount", "A token limit is a whole number of tokens.")
        # A rate-limited alert watches each hour; spend and tokens add up over longer periods.
        if unit == Limit.Unit.RATE_LIMITED:
            if period and period != Limit.Period.HOUR:
                self.add_error("period", "A rate-limited share is watched per hour.")
            if amount is not None and amount > 100:
                self.add_error("amount", "A share of requests is at most 100%.")
            if data.get("forecast"):
                self.add_error("forecast", "A rate-limited share has no forecast.")
        elif unit and period == Limit.Period.HOUR:
            self.add_error("period", "A spend limit is per day, week or calendar month.")
        return data

    @staticmethod
    def initial_of(limit: Limit) -> dict:
        """The form's fields as the limit has them now (for its edit page)."""
        thresholds = list(limit.thresholds.all())
        spend = [t for t in thresholds if t.kind == Threshold.Kind.SPEND]
        recipients = {
            t.pk: (tuple(sorted(t.emails)), tuple(sorted(e.pk for e in t.endpoints.all())))
            for t in thresholds
        }
        # The recipients most thresholds share (the more of them on a tie) go in the fields
        # for all; the others get a line each.
        counts = Counter(recipients.values())
        common = max(counts, key=lambda r: (counts[r], len(r[0]) + len(r[1])), default=((), ()))
        names = {e.pk: e.name for t in thresholds for e in t.endpoints.all()}
        lines = [
            f"{'forecast' if t.kind == Threshold.Kind.FORECAST else t.percent}: "
            + ", ".join([*recipients[t.pk][0], *(names[pk] for pk in recipients[t.pk][1])])
            for t in thresholds
            if recipients[t.pk] != common
        ]
        if limit.account_id:
            scope = f"account:{limit.account_id}"
        elif limit.api_key_id:
            scope = f"api_key:{limit.api_key_id}"
        elif limit.workspace_id:
            scope = f"workspace:{limit.workspace_id}"
        else:
            scope = "org"
        return {
            "name": limit.name,
            "scope": scope,
            "unit": limit.unit,
            "amount": format(limit.amount.normalize(), "f"),
            "period": limit.period,
            "time_zone": limit.time_zone,
            "thresholds": ", ".join(str(t.percent) for t in spend),
            "forecast": len(spend) < len(thresholds),
            "emails": "\n".join(common[0]),
            "endpoints": list(common[1]),
            "per_threshold": "\n".join(lines),
        }

    def limit_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            **data["scope"],
            "unit": data["unit"],
            "amount": data["amount"],
            "period": data["period"],
            "time_zone": data["time_zone"],
        }

    def service_arguments(self) -> dict:
        """What ``services.create_limit`` and ``services.update_limit`` take of the form."""
        data = self.cleaned_data
        return {
            "thresholds": data["thresholds"],
            "emails": data["emails"],
            "endpoints": data["endpoints"],
            "forecast": data["forecast"],
            "per_threshold": data["per_threshold"],
            **self.limit_fields(),
        }


class EndpointForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    url = forms.URLField(max_length=2000, assume_scheme="https")
    slack = forms.BooleanField(required=False)

    def clean_name(self) -> str:
        # A limit's recipients per threshold name endpoints in a comma-separated list.
        name = self.cleaned_data["name"]
        if "," in name:
            raise ValidationError("A webhook endpoint's name has no comma.")
        return name

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        services.check_webhook_url(url)
        return url


class ChargebackForm(forms.Form):
    """The chargeback report's query string: a range of local months, a grouping, a format."""

    start = forms.CharField(max_length=7, help_text="First month, YYYY-MM.")
    end = forms.CharField(max_length=7, help_text="Last month, YYYY-MM.")
    by = forms.ChoiceField(choices=list(chargeback.BY.items()), required=False)
    tz = forms.CharField(max_length=64, required=False)
    format = forms.ChoiceField(
        choices=[("html", "Page"), ("csv", "CSV"), ("xlsx", "Excel")], required=False
    )

    def _month(self, name: str) -> tuple[int, int]:
        value = self.cleaned_data[name]
        year, _, month = value.partition("-")
        if not (year.isdigit() and month.isdigit() and len(year) == 4 and 1 <= int(month) <= 12):
            raise ValidationError("Enter a month as YYYY-MM, e.g. 2026-11.")
        if int(year) not in YEARS:
            raise ValidationError(f"Choose a year from {YEARS.start} to {YEARS.stop - 1}.")
        return int(year), int(month)

    def clean_start(self):
        return self._month("start")

    def clean_end(self):
        return self._month("end")

    def clean_tz(self) -> str:
        value = self.cleaned_data["tz"] or "UTC"
        if value not in time_zones():
            raise ValidationError("Choose a time zone from the list, such as Europe/Paris.")
        return value

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            count = len(chargeback.months(start, end))
            if count == 0:
                self.add_error("end", "The last month must not be before the first.")
            elif count > chargeback.MAX_MONTHS:
                self.add_error("end", f"At most {chargeback.MAX_MONTHS} months at a time.")
        data["by"] = data.get("by") or "workspace"
        data["format"] = data.get("format") or "html"
        return data
