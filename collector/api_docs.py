"""/api/docs: the OpenAPI document as a page of our own, rendered on the server.

FastAPI's Swagger UI loads its script and style from a CDN and runs an inline
script: a reader's browser would fetch code from outside, and the page's CSP
(no script at all) could not hold. This page needs nothing but the collector's
stylesheet, and is sent with the same headers as every other page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from .access import Caller
from .pages import render_page

METHODS = ("get", "post", "put", "patch", "delete")


def list_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation of the document, in its order: what a reader needs to call it."""
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": operation.get("operationId", f"{method}{path}"),
                    "summary": operation.get("description") or operation.get("summary", ""),
                    "parameters": [_parameter(p) for p in operation.get("parameters", [])],
                    "body": _body(operation.get("requestBody")),
                    "responses": [
                        (status, answer.get("description", ""))
                        for status, answer in sorted(operation.get("responses", {}).items())
                    ],
                }
            )
    return found


def _parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": parameter.get("name", ""),
        "where": parameter.get("in", ""),
        "required": bool(parameter.get("required")),
        "type": _type_name(parameter.get("schema", {})),
    }


def _type_name(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type_name(choice) for choice in schema["anyOf"])
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    return str(schema.get("type", "any"))


def _body(body: dict[str, Any] | None) -> str:
    if not body:
        return ""
    kinds = body.get("content", {})
    return ", ".join(
        f"{kind} {_type_name(content.get('schema', {}))}" for kind, content in kinds.items()
    )


def render_api_docs(request: Request, caller: Caller, document: dict[str, Any]) -> HTMLResponse:
    return render_page(
        request, "api_docs.html", caller, document=document, operations=list_operations(document)
    )
