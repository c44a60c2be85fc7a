"""Query-string models shared by list endpoints."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import NotFound


class PageParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, description="Page number, defaults to 1.")
    limit: int = Field(10, ge=1, le=100, description="Size of a page, defaults to 10. "
                                                     "Maximum is 100.")
    metadata: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Filter by metadata key-value pairs (deepObject style: `?metadata[key]=value`)."))


def parse_uuid(value: str) -> UUID:
    """A path id; one that is not a UUID names nothing, so it is a 404 like any unknown id."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFound("Not found") from None
