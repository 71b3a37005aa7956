"""Money input checks: ISO 4217 currency codes and positive budget amounts.

The clouds reject an unknown currency late and vaguely; checking here gives the user an error
that names the field before any call is made.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fleet.costs.errors import CostInputError

# Active ISO 4217 alphabetic codes (list published by the ISO 4217 maintenance agency, SIX).
# Fund codes and precious metals (XAU, XDR, ...) are left out: no cloud bills in them.
ISO_4217_CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - a block of codes reads better than a 170-item literal
)


def validate_currency(code: str, *, field: str = "currency") -> str:
    """Return the code if it is an ISO 4217 currency, else raise naming the field."""
    if not isinstance(code, str) or code not in ISO_4217_CODES:
        raise CostInputError(field, f"{code!r} is not an ISO 4217 currency code (e.g. 'USD')")
    return code


def to_decimal(value: object, *, field: str) -> Decimal:
    """Parse a money figure from str/int/Decimal (floats via their repr, to avoid binary noise)."""
    if isinstance(value, bool):
        raise CostInputError(field, f"{value!r} is not a number")
    try:
        number = Decimal(str(value)) if isinstance(value, float | int | str) else Decimal(value)
    except (InvalidOperation, TypeError):
        raise CostInputError(field, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise CostInputError(field, f"{value!r} is not a finite number")
    return number


def validate_amount(value: object, *, field: str = "amount") -> Decimal:
    """A budget amount: a number greater than zero."""
    amount = to_decimal(value, field=field)
    if amount <= 0:
        raise CostInputError(field, f"must be greater than zero, got {amount}")
    return amount
