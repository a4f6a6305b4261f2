"""The intake: inbox → archive → read → check → load, as plain functions the Prefect flow wires up."""
