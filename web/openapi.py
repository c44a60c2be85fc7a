"""The OpenAPI document, generated from the declared operations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from web.api import Operation

_REF = "#/components/schemas/{model}"


def _schema(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(annotation).json_schema(ref_template=_REF, mode="serialization")
    components.update(schema.pop("$defs", {}))
    return schema


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{(\w+)}", op.path)]
    if op.query is not None:
        for name, info in op.query.model_fields.items():
            schema = TypeAdapter(info.annotation).json_schema()
            if name == "metadata":
                params.append({"name": "metadata", "in": "query", "style": "deepObject",
                               "explode": True, "schema": schema,
                               "description": info.description or ""})
                continue
            params.append({"name": name, "in": "query", "required": info.is_required(),
                           "schema": schema, "description": info.description or ""})
    return params


def build_openapi(operations: list[Operation], title: str, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {
        "HTTPValidationError": {
            "type": "object",
            "properties": {"detail": {"type": "array", "items": {
                "type": "object", "required": ["loc", "msg", "type"],
                "properties": {"loc": {"type": "array", "items": {
                    "anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"}, "type": {"type": "string"}, "input": {}}}}},
        },
    }
    paths: dict[str, Any] = {}
    for op in operations:
        responses: dict[str, Any] = {
            "401": {"description": "Missing, unknown or revoked access token"},
            "403": {"description": "The token lacks the required scope"},
            "422": {"description": "Validation Error", "content": {"application/json": {
                "schema": {"$ref": _REF.format(model="HTTPValidationError")}}}},
        }
        if op.response is None:
            responses[str(op.status)] = {"description": "No content"}
        else:
            responses[str(op.status)] = {"description": "Successful Response", "content": {
                "application/json": {"schema": _schema(op.response, components)}}}
        if "{" in op.path:
            responses["404"] = {"description": "Not found"}
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.tags[0] if op.tags else 'default'}:{op.endpoint.__name__}"
                           f":{op.method.lower()}:{op.path}",
            "tags": list(op.tags),
            "description": (op.endpoint.__doc__ or "").strip()
                           + f"\n\n**Scopes**: {' '.join(f'`{s}`' for s in op.scopes)}",
            "parameters": _parameters(op),
            "responses": responses,
            "security": [{"access_token": []}],
        }
        if op.body is not None:
            body_schema = _schema(op.body, components) if isinstance(op.body, type) and \
                issubclass(op.body, BaseModel) else {"type": "object"}
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": body_schema}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "access_token": {"type": "http", "scheme": "bearer"}}},
    }
