"""budgetflow's tests."""

import config.openpyxl_xml  # noqa: F401  (before openpyxl is imported: see there)
