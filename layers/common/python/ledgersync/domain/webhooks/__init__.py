"""The PO Reconciliation webhook (seed 001), by concern: ``endpoint`` (configuration and set-up), ``payload``
(body, signature, headers), ``retries`` (schedule and answer classification), ``notice`` (the failure e-mail) and
``delivery`` (the queue consumer).

Pure Python over Protocol ports; the HTTP, DNS, S3, Secrets Manager and SQS sides live in
``ledgersync.adapters.webhooks``.
"""
