"""Server-rendered pages (Jinja2, plain HTML forms) over the same `authz` and `workflow`."""

from haven.service.web.routes import router
from haven.service.web import casework  # noqa: F401,E402 - registers the case and media pages

__all__ = ["router"]
