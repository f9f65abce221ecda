"""Compliance in the live bridge: sanctions screening before signing, the venue and
jurisdiction policy at start, the audit bundle (see docs/compliance.md)."""

from live.compliance.screen import (
    COMPLIANCE_DIR_ENV,
    ComplianceRefused,
    SanctionedAddressRefused,
    Screener,
    ScreeningConfig,
    ScreeningUnavailable,
    default_screener,
)

__all__ = [
    "COMPLIANCE_DIR_ENV",
    "ComplianceRefused",
    "SanctionedAddressRefused",
    "Screener",
    "ScreeningConfig",
    "ScreeningUnavailable",
    "default_screener",
]
