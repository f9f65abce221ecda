"""Compliance: OFAC sanctions lists, KYC/AML provider interface, jurisdiction policy, trade and
tax reports (see docs/compliance.md). Pure library code: the live screener is in
``live/compliance``."""
