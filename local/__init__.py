"""Runs the stack on one machine: the CMS-like emulator, the local runner, the bulk-ingest CLI."""
