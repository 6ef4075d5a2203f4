"""Purchase orders, vendor invoices, approvals and the "Send to External System" action (seed 000)."""

from ledgersync.api import make_api
from ledgersync.routes import documents, purchase_orders

app, lambda_handler = make_api(purchase_orders.router, documents.router)
