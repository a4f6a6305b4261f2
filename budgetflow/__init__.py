"""budgetflow: intake, checks and reports for departments' budget and final-account workbooks."""

__version__ = "0.1.0"
