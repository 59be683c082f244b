"""`--format vpdq`: every hashed video as `<sha256>.txt` in a directory, in the vPDQ text
format `haven hashsets import --format vpdq` reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from haven.errors import HavenError
from haven.hashsets.exports.registry import ExportRequest, register


@register
class VpdqExport:
    name = "vpdq"

    def prepare(self, request: ExportRequest) -> ExportRequest:
        if request.out.exists() and not request.out.is_dir():
            raise HavenError(f"--out {request.out} is a file: --format vpdq writes a directory")
        return request

    def write(self, findings: Iterable[dict], request: ExportRequest) -> Iterator[str]:
        from haven.hashsets.formats.vpdq_text import write_vpdq_text

        request.out.mkdir(parents=True, exist_ok=True)
        written: set[str] = set()
        for f in findings:
            if f["vpdq"] and f["sha256"] not in written:
                write_vpdq_text(f["vpdq"], request.out / f"{f['sha256']}.txt")
                written.add(f["sha256"])
        yield f"Wrote {len(written)} video hash file(s) to {request.out}"
