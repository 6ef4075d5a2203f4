"""invoice.create (seed 002), invoice.checkout and invoice reads."""

from ledgersync.api import make_api
from ledgersync.routes import invoices

app, lambda_handler = make_api(invoices.router)
