"""Outputs for people: annotated workbooks, HTML pages, period reports."""

import config.openpyxl_xml  # noqa: F401  (before openpyxl is imported: see there)
