"""CDK constructs of the bulk-fhir-ingest stack."""
