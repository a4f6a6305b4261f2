"""Outputs for people: annotated workbooks, HTML pages, period reports."""
