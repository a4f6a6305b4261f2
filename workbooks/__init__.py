"""Reading and writing Excel workbooks: the file adapters of budgetflow."""
