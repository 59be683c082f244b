"""`--format vics`: images and videos as a Project VIC VICS 2.0 case export (one JSON file);
the writing itself is `haven.hashsets.vics_export`."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator

from haven.errors import HavenError
from haven.hashsets.exports.registry import ExportRequest, register


@register
class VicsExport:
    name = "vics"

    def prepare(self, request: ExportRequest) -> ExportRequest:
        from haven.hashsets.vics_export import vics_region

        region = vics_region(request.region)  # before opening anything
        if request.out.is_dir():
            raise HavenError(f"--out {request.out} is a directory: give the file to write, e.g. "
                             f"{request.out / (request.case_name + '.vics.json')}")
        return dataclasses.replace(request, region=region)

    def write(self, findings: Iterable[dict], request: ExportRequest) -> Iterator[str]:
        from haven.hashsets.vics_export import write_vics_case

        left_out: Counter = Counter()
        n = write_vics_case(findings, str(request.out), case_name=request.case_name,
                            scheme_region=request.region, left_out=left_out)
        yield f"Wrote {n} media to {request.out} (VICS region {request.region})"
        if left_out:
            yield "Left out: " + ", ".join(f"{v} {k}" for k, v in sorted(left_out.items()))
