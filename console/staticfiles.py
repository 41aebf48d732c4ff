"""Serve plotly.js from the installed plotly package, so no page loads it from a CDN."""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "plotly/plotly.min.js"
_SOURCE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    """Expose exactly one file, ``plotly/plotly.min.js``, from the plotly wheel."""

    storage = FileSystemStorage(location=str(_SOURCE.parent))

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path == PLOTLY_JS:
            return [str(_SOURCE)] if find_all else str(_SOURCE)
        return []

    def list(self, ignore_patterns):
        storage = FileSystemStorage(location=str(_SOURCE.parent))
        storage.prefix = "plotly"
        yield _SOURCE.name, storage
