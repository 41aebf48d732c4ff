"""The Admin API's OpenAPI document and a reference page rendered from it (public: no data)."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from adminapi.openapi import document


def _type(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_type(schema['items'])}"
    if "enum" in schema:
        return " | ".join(schema["enum"])
    kind = schema.get("type", "")
    return " or ".join(kind) if isinstance(kind, list) else kind


def _limits(schema: dict) -> str:
    parts = [
        f"{word} {schema[key]}"
        for key, word in (("default", "default"), ("minimum", "min"), ("maximum", "max"))
        if key in schema
    ]
    return ", ".join(parts)


@require_GET
def openapi_json(request):
    """The OpenAPI 3.1 document."""
    return JsonResponse(document())


@require_GET
def reference(request):
    """The endpoints, their parameters and answers, from the OpenAPI document."""
    spec = document()
    endpoints = []
    for path, item in spec["paths"].items():
        operation = item["get"]
        endpoints.append(
            {
                "path": path,
                "summary": operation["summary"],
                "parameters": [
                    {
                        "name": p["name"],
                        "where": p["in"],
                        "required": p["required"],
                        "type": _type(p["schema"]),
                        "limits": _limits(p["schema"]),
                        "description": p.get("description", ""),
                    }
                    for p in operation["parameters"]
                ],
                "responses": [
                    (
                        status,
                        answer["description"],
                        _type(answer["content"]["application/json"]["schema"]),
                    )
                    for status, answer in operation["responses"].items()
                ],
            }
        )
    return render(request, "adminapi/reference.html", {"spec": spec, "endpoints": endpoints})
