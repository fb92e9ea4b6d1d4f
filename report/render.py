"""Rendering: the report's view model through the Jinja2 template (autoescaped) into one HTML document."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from analysis.report_data import ReportData
from report.views import report_view

# From reference/WARDS_SOURCE.md: the boundaries are adapted ONS data under OGL v3.0.
LICENCE_URL = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
ATTRIBUTION = (
    "Adapted from data from the Office for National Statistics licensed under the Open Government "
    "Licence v.3.0. Contains OS data © Crown copyright and database right 2025."
)


@cache
def environment() -> jinja2.Environment:
    """The template environment: templates from the package, every value escaped unless it is Markup."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def stylesheet() -> Markup:
    """The report's CSS (package data), inlined so the file needs nothing else."""
    return Markup(resources.files("report").joinpath("static/report.css").read_text(encoding="utf-8"))


def render_report(data: ReportData) -> str:
    """The whole report as one self-contained HTML document."""
    return (
        environment()
        .get_template("report.html.j2")
        .render(view=report_view(data), css=stylesheet(), attribution=ATTRIBUTION, licence_url=LICENCE_URL)
    )
