"""Request types shared by endpoints: list query strings, path ids, emails and metadata."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from domain.errors import NotFound

Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]
MetadataValue = StrictBool | StrictInt | Annotated[StrictStr, Field(max_length=500)] | Decimal
Metadata = Annotated[dict[Annotated[str, Field(min_length=1, max_length=40)], MetadataValue],
                     Field(max_length=50)]
"""Metadata on customers, meters, products, ...: at most 50 keys of at most 40 characters."""


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
