"""One service per state of the state machine: pure orchestration over the ports in ``ingest.ports``."""
