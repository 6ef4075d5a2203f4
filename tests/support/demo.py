"""A small demo directory, shared by tests: seed 002's customer ANG, carrier AR, product RSAS60, box type HB."""

from __future__ import annotations

from typing import Any

from tests.support.events import Api

DIRECTORY: dict[str, list[dict[str, Any]]] = {
    "customers": [
        {"id": 99999, "code": "C99", "name": "Sample Customer", "currency": "USD"},
        {"id": 1001, "code": "ANG", "name": "Ang Flowers LLC"},
        {"id": 1002, "code": "EUR1", "name": "Blumen GmbH", "currency": "EUR"},
        {"id": 1003, "code": "OLD", "name": "Old Customer", "active": False},
    ],
    "carriers": [{"id": 423, "code": "FX", "name": "FedEx"}, {"id": 424, "code": "AR", "name": "Armellini"}],
    "locations": [{"id": 3, "code": "02", "name": "Chicago"}, {"id": 4, "code": "01", "name": "Miami"}],
    "products": [{"id": 1, "code": "RSAS60", "name": "Rose Assorted 60cm"}],
    "box-types": [{"id": 1, "code": "HB", "name": "Half Box"}, {"id": 2, "code": "QB", "name": "Quarter Box"}],
    "inventory": [
        {
            "orderItemId": 9999999,
            "productCode": "RSAS60",
            "boxTypeCode": "QB",
            "unitsPerBox": 10,
            "unitType": "Stem",
            "availableBoxes": 20,
            "cost": 1.10,
            "locationCode": "02",
        },
        {
            "orderItemId": 5001,
            "productCode": "RSAS60",
            "boxTypeCode": "HB",
            "unitsPerBox": 6,
            "unitType": "Bunch",
            "availableBoxes": 4,
            "cost": 0.2,
            "locationCode": "02",
        },
        {
            "orderItemId": 5002,
            "productCode": "RSAS60",
            "boxTypeCode": "HB",
            "unitsPerBox": 6,
            "unitType": "Bunch",
            "availableBoxes": 3,
            "cost": 0.2,
            "locationCode": "02",
        },
        {
            "orderItemId": 5003,
            "productCode": "RSAS60",
            "boxTypeCode": "HB",
            "unitsPerBox": 6,
            "unitType": "Bunch",
            "availableBoxes": 5,
            "cost": 0.2,
            "locationCode": "01",
        },
    ],
    "charges": [{"code": "FRT", "name": "Freight"}],
    "exchange-rates": [
        {"currency": "EUR", "rate": "1.10", "effectiveFrom": "2020-01-01"},
        {"currency": "EUR", "rate": "1.20", "effectiveFrom": "2099-01-01"},
    ],
}


def load_directory(api: Api) -> None:
    for kind, records in DIRECTORY.items():
        answer = api.put(f"/v1/directory/{kind}", {"records": records})
        assert answer.status == 200, answer.text
