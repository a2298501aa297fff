"""`bulk-ingest views`: evaluate a ViewDefinition over FHIR NDJSON on this machine."""
