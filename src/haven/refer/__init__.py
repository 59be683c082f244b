"""Referral packages: attributed subjects → one signed (and optionally encrypted) package per country."""
