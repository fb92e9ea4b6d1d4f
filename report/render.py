"""Rendering: the report's view model through the Jinja2 template (autoescaped) into one HTML document."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from analysis.report_data import ReportData
from reference.geography import active
from report.views import report_view


def attribution() -> str:
    """The words the active geography pack's boundary licence asks a map to show."""
    return active().files["boundaries"].attribution


def licence_url() -> str:
    """Where the boundary licence can be read (empty when the pack names none)."""
    return active().files["boundaries"].licence_url


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
        .render(view=report_view(data), css=stylesheet(), attribution=attribution(), licence_url=licence_url())
    )
