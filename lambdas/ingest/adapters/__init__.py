"""Adapters: the only modules that talk to AWS (boto3). Each implements a port of ``ingest.ports``."""
