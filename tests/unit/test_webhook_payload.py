"""The webhook body against seed 001's field list: names, JSON types, two-decimal amounts, item attribution."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgersync.domain.purchase_orders import AdditionalCharge, PurchaseOrderItem, VendorInvoice
from ledgersync.domain.webhooks.payload import build_payload, encode_payload
from tests.unit.test_webhook_delivery import FakeLinks, seed_document, seed_order

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "001_ac01bdb76df1eb9a.txt"

# seed 001's field list: name -> JSON type ("array" there means an object or a list of objects)
TOP = {
    "id": int,
    "poNumber": str,
    "shipDate": str,
    "arrivalDate": str,
    "subTotal": float,
    "total": float,
    "location": dict,
    "vendorInvoices": list,
}
LOCATION = {"id": int, "code": str, "name": str}
INVOICE = {
    "invoiceNumber": str,
    "invoiceAmount": float,
    "totalAdditionalCharges": float,
    "file": str,
    "vendor": dict,
    "purchaseOrderItems": list,
}
VENDOR = {"id": int, "code": str, "name": str, "vendorAccountingCode": (str, type(None)), "type": str}
ITEM = {"categoryProcurementAccountingCode": str, "totalCost": float}


def sent(document: Any = None) -> dict[str, Any]:
    body = encode_payload(build_payload(document or seed_document(), FakeLinks()))
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def assert_fields(value: dict[str, Any], fields: dict[str, Any], where: str) -> None:
    for name, kind in fields.items():
        assert name in value, f"{where}.{name} is missing"
        assert isinstance(value[name], kind), f"{where}.{name} is {type(value[name]).__name__}"


def test_payload_has_every_field_of_the_seed_list_with_its_json_type_when_built() -> None:
    payload = sent()
    assert_fields(payload, TOP, "po")
    assert_fields(payload["location"], LOCATION, "location")
    for index, invoice in enumerate(payload["vendorInvoices"][:2]):
        assert_fields(invoice, INVOICE, f"vendorInvoices[{index}]")
        assert_fields(invoice["vendor"], VENDOR, f"vendorInvoices[{index}].vendor")
        for item in invoice["purchaseOrderItems"]:
            assert_fields(item, ITEM, "purchaseOrderItems[]")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", payload["shipDate"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", payload["arrivalDate"])


def test_payload_field_names_match_the_seed_documents_list_when_the_seed_is_present() -> None:
    if not SEED.exists():
        pytest.skip("shared/seeds is not next to the repository")
    text = SEED.read_text()
    documented = set(re.findall(r"^(\w+) \((?:integer|string|date|number|array|url)\)$", text, flags=re.MULTILINE))
    assert len(documented) >= 20
    payload = sent()
    produced = set(payload) | set(payload["location"]) | set(payload["vendorInvoices"][0])
    produced |= set(payload["vendorInvoices"][0]["vendor"]) | set(payload["vendorInvoices"][0]["purchaseOrderItems"][0])
    assert documented <= produced, documented - produced


def test_subtotal_is_sent_under_both_spellings_when_the_seed_disagrees_with_itself() -> None:
    payload = sent()
    assert payload["subTotal"] == payload["subtotal"] == 60.0


def test_amounts_are_json_numbers_with_two_decimals_when_encoded() -> None:
    body = encode_payload(build_payload(seed_document(), FakeLinks())).decode()
    assert '"subTotal":60.00' in body
    assert '"invoiceAmount":20.00' in body
    assert '"totalAdditionalCharges":0.00' in body
    assert '"totalCost":' in body
    assert not re.search(r'"(subTotal|total|invoiceAmount|totalCost)":"', body)


def test_decimal_sum_prints_exactly_when_amounts_do_not_add_up_in_binary() -> None:
    assert encode_payload({"total": Decimal("0.1") + Decimal("0.2")}) == b'{"total":0.30}'
    assert encode_payload({"total": Decimal("-0.00")}) == b'{"total":0.00}'
    assert encode_payload({"total": Decimal("1234567.005")}) == b'{"total":1234567.01}'


def test_encoding_refuses_floats_when_an_amount_is_not_decimal() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        encode_payload({"total": 0.1 + 0.2})


def test_each_invoice_gets_its_share_of_the_items_when_the_po_has_several_invoices() -> None:
    # Given seed 001's PO, where the sample's invoice 01-P002272 lists 40 of items for an amount of 30
    payload = sent()
    invoices = payload["vendorInvoices"]
    # Then every invoice's items add up to its own amount, and all items to the PO subtotal
    for invoice in invoices:
        items_total = sum(Decimal(str(i["totalCost"])) for i in invoice["purchaseOrderItems"])
        assert items_total == Decimal(str(invoice["invoiceAmount"])) - Decimal(str(invoice["totalAdditionalCharges"]))
    everything = sum(Decimal(str(i["totalCost"])) for inv in invoices for i in inv["purchaseOrderItems"])
    assert everything == Decimal("60.00")
    assert [i["categoryProcurementAccountingCode"] for i in invoices[1]["purchaseOrderItems"]] == ["CGEN", "PGEN"]


def test_item_shares_never_lose_a_cent_when_the_split_is_uneven() -> None:
    order = seed_order(
        items=[PurchaseOrderItem(category_procurement_accounting_code="CGEN", total_cost=Decimal("10.00"))],
        vendor_invoices=[VendorInvoice(invoice_number=str(n), invoice_amount=Decimal("3.33")) for n in range(3)],
    )
    payload = sent(seed_document(order))
    shares = [inv["purchaseOrderItems"][0]["totalCost"] for inv in payload["vendorInvoices"]]
    assert sorted(shares) == [3.33, 3.33, 3.34]


def test_charges_are_in_total_but_not_in_subtotal_when_the_po_has_additional_charges() -> None:
    order = seed_order(
        additional_charges=[AdditionalCharge(code="FRT", amount=Decimal("5.50"))],
        vendor_invoices=[
            VendorInvoice(invoice_number="A", invoice_amount=Decimal("65.50"), total_additional_charges=Decimal("5.50"))
        ],
    )
    payload = sent(seed_document(order))
    assert payload["subTotal"] == 60.0
    assert payload["total"] == 65.5
    assert payload["vendorInvoices"][0]["totalAdditionalCharges"] == 5.5
    assert sum(i["totalCost"] for i in payload["vendorInvoices"][0]["purchaseOrderItems"]) == 60.0


def test_vendor_accounting_code_is_the_accounting_name_when_the_directory_has_one() -> None:
    document = seed_document()
    assert sent(document)["vendorInvoices"][0]["vendor"]["vendorAccountingCode"] is None
    named = type(document)(
        order=document.order,
        vendor=document.vendor.model_copy(update={"accounting_name": "Miami L Vendor LLC"}),
        location=document.location,
    )
    vendor = sent(named)["vendorInvoices"][0]["vendor"]
    assert vendor == {
        "id": 29697,
        "code": "AV",
        "name": "Miami L Vendor",
        "vendorAccountingCode": "Miami L Vendor LLC",
        "type": "Fresh Cut",
    }


def test_location_code_keeps_its_leading_zero_when_sent() -> None:
    assert sent()["location"] == {"id": 3, "code": "02", "name": "Chicago"}


def test_optional_values_are_null_when_the_po_lacks_them() -> None:
    document = seed_document(seed_order(arrival_date=None, location_id=None))
    bare = type(document)(order=document.order, vendor=document.vendor, location=None)
    payload = sent(bare)
    assert payload["arrivalDate"] is None
    assert payload["location"] is None
    assert payload["vendorInvoices"][2]["file"] is None


def test_text_is_utf8_json_when_names_have_accents_and_quotes() -> None:
    document = seed_document()
    odd = type(document)(
        order=document.order,
        vendor=document.vendor.model_copy(update={"name": 'Flores "La Niña"'}),
        location=document.location,
    )
    body = encode_payload(build_payload(odd, FakeLinks()))
    assert json.loads(body.decode("utf-8"))["vendorInvoices"][0]["vendor"]["name"] == 'Flores "La Niña"'
