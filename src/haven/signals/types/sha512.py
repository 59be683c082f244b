"""SHA-512 of a file's bytes: some hash-sharing partners list it beside or instead of SHA-256.

Schema decision: hash-set entries hold it in a `sha512` column (`HashEntry`, the case store's
`hash_entries`, added to older case.db files when opened; the service's `svc_hash_entries`,
migration 0007), so every reader, the per-case and service indexes, the national library
(kind byte 4) and deconfliction take it. A scan does not compute it for every item
(`scanned = False`: a fourth digest would cost every scan for lists that rarely carry it): a
scan computes it, in the same read as the other digests, only when the hash sets it matches
against (or an attached national library) hold at least one SHA-512 value
(`CaseHashSets.extra_digests`), and matches it like MD5 or SHA-256 (signal type `sha512`). It is kept in the item's `sha512` column when computed (`item_column`; NULL
otherwise, and in cases made before the column), so a SHA-512-only list imported after the
scan finds those items by re-matching (`haven.match.rematch`). Items scanned while no list
held SHA-512 have none: re-matching never reads evidence, so it counts them
(`RematchResult.unhashed`) and `haven scan --rehash` computes it (the measured cost, +0.08 s
CPU per 100 MB read, is in docs/benchmarks.md).
"""

from haven.signals.base import DigestSignal
from haven.signals.registry import register


@register
class Sha512(DigestSignal):
    name = "sha512"
    hex_length = 128
    order = 40
    store_code = 4
    scanned = False
    examples = (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        "07e547d9586f6a73f73fbac0435ed76951218fb7d0c8d788a309d785436bbb64"
        "2e93a252a954f23912547d1e8a3b5ed6e1bfd7097821233fa0538f3db854fee6",
    )
