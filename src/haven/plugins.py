"""The plug-in idiom's two shared steps: claim a name once, and find a package's plug-ins.

Each kind of plug-in (evidence containers, hash-set readers, findings exports, intel record
readers, referral package formats) is a Protocol plus a registry module in its own package:
every plug-in module registers its class with that registry's `@register` decorator, and the
registry imports every module of the package the first time it is asked (`discover`). The
kinds differ in what they check and how they order; these two steps are the same for all.
"""

from __future__ import annotations

import importlib
import pkgutil

_discovered: set[str] = set()


def claim(table: dict, name: str, plugin: object, what: str) -> None:
    """Put `plugin` (a class, or an instance of one) in `table` under `name`.

    A different class claiming a name already taken is an error naming both the kind
    (`what`, e.g. "container kinds") and the name; the same class registered again (its
    module imported twice) simply replaces the entry.
    """
    known = table.get(name)
    if known is not None:
        old = known if isinstance(known, type) else type(known)
        new = plugin if isinstance(plugin, type) else type(plugin)
        if (old.__module__, old.__qualname__) != (new.__module__, new.__qualname__):
            raise ValueError(f"two {what} claim the name {name!r}")
    table[name] = plugin


def discover(package: str) -> None:
    """Import every module of `package` once; each runs its `@register`."""
    if package in _discovered:
        return
    _discovered.add(package)
    found = importlib.import_module(package)
    for module in pkgutil.iter_modules(found.__path__):
        importlib.import_module(f"{package}.{module.name}")
