"""Reading and writing Excel workbooks: the file adapters of budgetflow."""

import config.openpyxl_xml  # noqa: F401  (before openpyxl is imported: see there)
