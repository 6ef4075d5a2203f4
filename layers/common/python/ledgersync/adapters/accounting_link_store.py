"""Accounting links in the single table: one item per (record, accounting system), beside the directory record
(``ACCLINK#<kind>#<id>#<system>``, outside the ``DIR#`` prefix a directory listing reads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledgersync.adapters.directory_store import ID_WIDTH
from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.domain.accounting_links import AccountingLink
from ledgersync.domain.directory import Kind
from ledgersync.domain.purchase_orders import ExternalSystem


def link_sk(kind: Kind, record_id: int, system: ExternalSystem) -> str:
    return f"ACCLINK#{kind.value}#{int(record_id):0{ID_WIDTH}d}#{system.value}"


class DynamoAccountingLinkStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def get_many(
        self, company_id: str, kind: Kind, record_ids: Sequence[int], system: ExternalSystem
    ) -> dict[int, AccountingLink]:
        pk = company_pk(company_id)
        found = self.table.batch_get([(pk, link_sk(kind, i, system)) for i in record_ids])
        return {int(item["recordId"]): AccountingLink.model_validate(item["link"]) for item in found.values()}

    def put_many(self, company_id: str, kind: Kind, links: Mapping[int, AccountingLink]) -> None:
        pk = company_pk(company_id)
        self.table.batch_write(
            puts=[
                {
                    "pk": pk,
                    "sk": link_sk(kind, record_id, link.system),
                    "recordId": record_id,
                    "link": link.model_dump(mode="json", by_alias=True),
                }
                for record_id, link in links.items()
            ]
        )
