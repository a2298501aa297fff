"""Runs the real synthesized state machine on one machine: moto's Step Functions engine executes the
definition from the CDK template, and each Lambda task is dispatched to the real handler in-process."""
