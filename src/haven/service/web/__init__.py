"""Server-rendered pages (Jinja2, plain HTML forms) over the same `authz` and `workflow`.

`pages` holds what they share (router, rendering, caller, CSRF); `routes` and `casework`
register their pages on its router and never import each other.
"""

from haven.service.web import casework, routes  # noqa: F401 - register their pages
from haven.service.web.pages import router

__all__ = ["router"]
