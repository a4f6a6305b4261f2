"""Prefect flows: thin wiring of the plain functions in checks/ and workbooks/."""
