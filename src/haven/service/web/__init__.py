"""Server-rendered pages (Jinja2, plain HTML forms) over the same `authz` and `workflow`."""

from haven.service.web.routes import router

__all__ = ["router"]
