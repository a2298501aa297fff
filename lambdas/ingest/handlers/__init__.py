"""Lambda entry points (``ingest.handlers.<name>.handler``): parse, call one service, return JSON."""
