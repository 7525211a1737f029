"""Identifier formats and GS1 helpers shared by the generator and the writer.

Volume tables keep their ids as integers (cheap in memory at scale 100); the writer turns them into
strings with the same printf formats used here for the manifest, so both always agree.
"""

from __future__ import annotations

from medtower.barcodes import gs1_check_digit

# column name -> printf format of the integer id it holds
ID_FORMATS: dict[str, str] = {
    "lot_id": "LOT-%07d",
    "component_lot_id": "LOT-%07d",
    "output_lot_id": "LOT-%07d",
    "wo_id": "WO-%07d",
    "po_id": "PO-%06d",
    "so_id": "SO-%06d",
    "movement_id": "MV-%09d",
    "shipment_id": "SH-%07d",
    "asn_id": "ASN-%06d",
    "inspection_id": "INS-%07d",
    "scan_id": "SC-%09d",
    "ncr_id": "NCR-%06d",
    "capa_id": "CAPA-%05d",
    "change_id": "CC-%05d",
    "complaint_id": "CPL-%06d",
}

# reference_type -> id format of inventory_movements.reference_id
REFERENCE_FORMATS: dict[str, str] = {
    "po": ID_FORMATS["po_id"],
    "wo": ID_FORMATS["wo_id"],
    "so": ID_FORMATS["so_id"],
    "ncr": ID_FORMATS["ncr_id"],
}


def fmt(column: str, value: int) -> str:
    """The string form of an integer id, exactly as written to the CSV."""
    return ID_FORMATS[column] % int(value)


def gtin14(company_prefix: str, item_ref: int, indicator: int = 0) -> str:
    """A valid GTIN-14 from a GS1 company prefix and an item reference."""
    body = f"{indicator}{company_prefix}{item_ref:0{12 - len(company_prefix)}d}"
    return body + str(gs1_check_digit(body))
