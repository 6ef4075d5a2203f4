"""One-off data migrations, run by an operator against a deployed table (``make migrate``)."""
