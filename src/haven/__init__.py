"""haven: offline triage, victim identification and referral tooling for child-protection work."""

__version__ = "0.1.0"
