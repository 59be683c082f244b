"""Victim identification: connect fresh media by metadata, scene, face, text and series.

Runs as its own step (`haven index`) after triage, so the scan's speed is untouched. Each
part owns one arrow: `indexer` reads items once and hands the pixels to `metadata`, `scene`,
`faces` and `ocr`; `links` and `series` work on what they stored. Everything lives in the
case database (`vi_*` tables, see `models`), keyed by the item's evidence path and SHA-256 so
it joins the triage findings.
"""
