"""The one queue message of the sync core: which document of which company goes to which target.

``parse`` also reads the bodies that were in flight when this contract replaced them, so a deploy loses no
message: the sync queue's ``{"companyId", "purchaseOrderId"[, "target"]}`` and the webhook queue's
``{"companyId", "purchaseOrderId", "deliveryId", "firstAttemptAt"}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.errors import PermanentError

DELIVERY_ID_PATTERN = r"^[A-Za-z0-9-]+$"


class UnreadableMessage(PermanentError):
    """A queue message that names no document (it is parked for the operator, never retried)."""


class SyncMessage(BaseModel):
    """``{"companyId", "document": {"kind", "id"}, "target", "deliveryId", "firstAttemptAt"}``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    company_id: str = Field(min_length=1, max_length=64)
    document: DocumentRef
    target: ExternalSystem
    delivery_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=DELIVERY_ID_PATTERN)
    first_attempt_at: datetime | None = None

    @field_validator("first_attempt_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def parse(cls, body: str, target: ExternalSystem | None = None) -> SyncMessage:
        """The message in ``body`` (this contract or a legacy one); ``target`` is the queue's own, for a legacy
        body that names none. UnreadableMessage says what is wrong."""
        try:
            parsed = json.loads(body)
        except ValueError as err:
            raise UnreadableMessage(f"unreadable sync message: not JSON ({err})") from err
        if not isinstance(parsed, dict):
            raise UnreadableMessage("unreadable sync message: not a JSON object")
        if "document" not in parsed and "purchaseOrderId" in parsed:
            parsed = _from_legacy(parsed, target)
        elif "target" not in parsed and target is not None:
            parsed = {**parsed, "target": target.value}
        try:
            return cls.model_validate(parsed)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "body"
            raise UnreadableMessage(f"unreadable sync message: {where} {first.get('msg', 'is invalid')}") from err


def _from_legacy(parsed: dict[str, Any], target: ExternalSystem | None) -> dict[str, Any]:
    po_id = parsed.get("purchaseOrderId")
    if isinstance(po_id, bool) or not isinstance(po_id, int | str):
        raise UnreadableMessage("unreadable sync message: purchaseOrderId is not a number")
    try:
        number = int(po_id)
    except ValueError as err:
        raise UnreadableMessage("unreadable sync message: purchaseOrderId is not a number") from err
    converted = {k: v for k, v in parsed.items() if k != "purchaseOrderId"}
    converted["document"] = DocumentRef.purchase_order(number).model_dump(mode="json")
    if "target" not in converted and target is not None:
        converted["target"] = target.value
    return converted
