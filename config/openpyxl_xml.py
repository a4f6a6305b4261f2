"""openpyxl keeps the XML library it is tested with here, the standard library's, although lxml is installed.

openpyxl switches to lxml whenever lxml can be imported (budgetflow needs it for the annotated copy's part
edits), unless `OPENPYXL_LXML` says otherwise when openpyxl is first imported. With lxml it writes other bytes
(each sheet's relationships namespace declared on the element that uses it, not on the root) and parses the
workbook's parts with lxml's rules instead of defusedxml's. Imported by every package that imports openpyxl,
before it does; an operator's own `OPENPYXL_LXML` is left as set.
"""

import os

os.environ.setdefault("OPENPYXL_LXML", "False")
