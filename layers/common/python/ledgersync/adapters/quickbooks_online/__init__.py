"""QuickBooks Online, by concern: ``faults`` (the answers it refuses with), ``limits`` (per-company rate and
concurrency), ``client`` (the v3 REST client), ``references`` (the name to id cache), ``documents`` (what the bill
and sales invoice gateways share), ``bills`` (the bill payload and gateway), ``invoices`` (the sales invoice payload
and gateway), ``oauth`` (Intuit OAuth and the app's credentials), ``tokens`` (the token secret and the refresh lock),
``dedup`` (the dedup entries of bills and sales invoices) and ``metrics`` (the token metrics).

Every HTTP or SDK failure leaves these modules as ``RetryableError`` (throttling, timeouts, 5xx), ``PermanentError``
(a refusal a person must fix, worded so they can), ``AccessTokenRejected`` (401: refresh once and retry) or
``ReauthorizationRequired`` (``invalid_grant``). QuickBooks JSON exists only here.
"""
