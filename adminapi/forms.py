"""The Admin keys page's form."""

from django import forms


class AdminKeyForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
