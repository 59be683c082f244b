"""The service's module layout: page modules share `pages` only, the web edge reads the
victim-ID index through its functions, and the app's routes live in per-resource routers."""

import ast
from pathlib import Path

import haven.service

SERVICE = Path(haven.service.__file__).parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_page_modules_do_not_import_each_other():
    casework, routes = SERVICE / "web" / "casework.py", SERVICE / "web" / "routes.py"
    assert not {m for m in _imports(casework) if m.startswith("haven.service.web.routes")}
    assert not {m for m in _imports(routes) if m.startswith("haven.service.web.casework")}


def test_the_web_edge_never_queries_victim_id_tables():
    for path in (SERVICE / "web").glob("*.py"):
        assert not {m for m in _imports(path) if m.startswith("haven.victimid.models")}, path


def test_the_app_module_defines_no_routes():
    tree = ast.parse((SERVICE / "app.py").read_text(encoding="utf-8"))
    decorated = [d for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for d in n.decorator_list
                 if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                 and d.func.attr in ("get", "post", "put", "patch", "delete")]
    assert decorated == []


def test_every_api_route_is_served_by_a_resource_router():
    from haven.service.api import ROUTERS

    paths = {r.path for module in ROUTERS for r in module.router.routes}
    for path in ("/api/v1/packages/{package_id}", "/api/v1/operations/{operation_id}/overlaps",
                 "/api/v1/packages/{package_id}/outcomes", "/api/v1/lookup", "/m/lookup",
                 "/api/v1/auth/login", "/api/v1/audit/checkpoint", "/healthz"):
        assert path in paths
