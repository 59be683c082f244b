"""What haven opens: one module per container kind, each one registered class.

A module here says a kind's name, its place in the sniffing order (`priority`), whether its
members can add up to more than itself (`expands`), how its first bytes look (`sniff`) and,
in `members`, which reader walks it. Every module is imported when the registry is first
asked (`haven.evidence.registry`), so adding a kind is adding a file. Keep the top of each
module free of decoder libraries: import the reader (`haven.evidence.zip`, `.disk`, your
own) inside `members`, so sniffing a folder of photos loads none of them.

Priorities in use: 10 zip, 20 7z, 30 tar, 35 android-backup, 40 iso, 50 disk, 60 e01, 70-73 virtual disks, 74 dmg,
1000 unopened formats (always last). A kind known by its last bytes (dmg) adds `sniff_tail`,
tried before every head (see the registry).
"""
