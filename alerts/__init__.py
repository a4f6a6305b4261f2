"""Email alerts: an outbox table first, then delivery by SMTP or as .eml files."""
