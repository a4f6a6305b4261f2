"""SQLModel tables and the database: where submissions are loaded (see the intake issue)."""
