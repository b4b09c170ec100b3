"""Factors (CONTRACT §4): pure incremental pivot/pen engines, their ledger, the series facade."""
