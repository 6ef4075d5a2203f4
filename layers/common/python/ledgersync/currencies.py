"""Currencies: ISO 4217 codes in use (the list's active codes, without precious metals, funds for testing and "no
currency"), for settings that map a currency to something: a code outside it is a typo, not a currency;
and the directory's exchange rate in force on a day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
    CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG ZWL
    """
ISO_4217 = frozenset(_CODES.split())

# QuickBooks Desktop names a currency by its name in the Currency List (CurrencyRef FullName), not by its code. The
# names of the currencies a US company file starts with that Ledgersync's demo and tests meet; a name not here (or a
# renamed currency) is not judged before sending: QuickBooks itself refuses a mismatch (3140).
DESKTOP_CURRENCY_NAMES = {
    "us dollar": "USD",
    "canadian dollar": "CAD",
    "euro": "EUR",
    "british pound sterling": "GBP",
    "australian dollar": "AUD",
    "mexican peso": "MXN",
}


def desktop_currency_code(name: str | None) -> str | None:
    """The ISO 4217 code of a QuickBooks Desktop currency name ("Canadian Dollar" → "CAD", "CAD" → "CAD"); None
    when it cannot be told."""
    text = (name or "").strip()
    if text.upper() in ISO_4217:
        return text.upper()
    return DESKTOP_CURRENCY_NAMES.get(text.casefold())


def desktop_currency_name(code: str) -> str:
    """The name QuickBooks Desktop gives a currency code (the code itself for one not in DESKTOP_CURRENCY_NAMES)."""
    names = {value: key for key, value in DESKTOP_CURRENCY_NAMES.items()}
    return names[code].title().replace("Us ", "US ") if code in names else code


def rate_in_force(rates: Sequence[Mapping[str, Any]], currency: str, on: date) -> Decimal | None:
    """The directory's rate of ``currency`` in force on ``on`` (the latest whose effectiveFrom is not after it), in
    company units per unit of ``currency``; None when there is none."""
    day = on.isoformat()
    found = [r for r in rates if r.get("currency") == currency and str(r.get("effectiveFrom", "")) <= day]
    if not found:
        return None
    return Decimal(str(max(found, key=lambda r: str(r["effectiveFrom"]))["rate"]))
