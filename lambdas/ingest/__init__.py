"""The ingest application: the Lambda code of the bulk-fhir-ingest state machine."""
