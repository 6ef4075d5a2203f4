"""Settings from the environment, read once per Lambda instance."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Every environment variable the functions read. Names match template.yaml's Globals.

    A plain pydantic model over ``os.environ`` (pydantic-settings would add 70 ms to every cold start).
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    stage: str = Field(default="dev", alias="STAGE")
    table_name: str = Field(default="ledgersync", alias="TABLE_NAME")
    sync_queue_url: str = Field(default="", alias="SYNC_QUEUE_URL")
    webhook_queue_url: str = Field(default="", alias="WEBHOOK_QUEUE_URL")
    webhook_dead_letter_queue_url: str = Field(default="", alias="WEBHOOK_DEAD_LETTER_QUEUE_URL")
    sync_dead_letter_queue_url: str = Field(default="", alias="SYNC_DEAD_LETTER_QUEUE_URL")
    sync_queue_max_receives: int = Field(default=10, ge=1, alias="SYNC_QUEUE_MAX_RECEIVES")
    sync_queue_visibility_seconds: int = Field(default=720, ge=1, alias="SYNC_QUEUE_VISIBILITY_SECONDS")
    webhook_queue_max_receives: int = Field(default=30, ge=1, alias="WEBHOOK_QUEUE_MAX_RECEIVES")
    export_queue_url: str = Field(default="", alias="EXPORT_QUEUE_URL")
    export_dead_letter_queue_url: str = Field(default="", alias="EXPORT_DEAD_LETTER_QUEUE_URL")
    export_queue_max_receives: int = Field(default=5, ge=1, alias="EXPORT_QUEUE_MAX_RECEIVES")
    # QuickBooks Desktop: how long an export's checkpoint waits between looks for the Web Connector's work
    export_desktop_wait_seconds: int = Field(default=300, ge=1, le=900, alias="EXPORT_DESKTOP_WAIT_SECONDS")
    documents_bucket: str = Field(default="ledgersync-documents", alias="DOCUMENTS_BUCKET")
    secrets_prefix: str = Field(default="ledgersync", alias="SECRETS_PREFIX")
    admin_api_key_secret: str = Field(default="ledgersync/admin-api-key", alias="ADMIN_API_KEY_SECRET")
    qbo_app_secret: str = Field(default="ledgersync/quickbooks-online-app", alias="QBO_APP_SECRET")
    qbo_environment: str = Field(default="sandbox", alias="QBO_ENVIRONMENT")
    qbo_api_base_url: str = Field(default="", alias="QBO_API_BASE_URL")
    qbo_redirect_uri: str = Field(default="", alias="QBO_REDIRECT_URI")
    qbo_requests_per_minute: int = Field(default=450, alias="QBO_REQUESTS_PER_MINUTE")
    qbo_max_in_flight: int = Field(default=4, alias="QBO_MAX_IN_FLIGHT")
    notification_sender: str = Field(default="no-reply@ledgersync.local", alias="NOTIFICATION_SENDER")
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")
    webhook_allowed_hosts: str = Field(default="", alias="WEBHOOK_ALLOWED_HOSTS")
    webhook_allowed_ports: str = Field(default="", alias="WEBHOOK_ALLOWED_PORTS")
    webhook_retry_hours: float = Field(default=24.0, alias="WEBHOOK_RETRY_HOURS")
    qbwc_run_every_minutes: int = Field(default=15, alias="QBWC_RUN_EVERY_MINUTES")
    max_body_bytes: int = Field(default=65536, alias="MAX_BODY_BYTES")
    # PUT /v1/directory/{kind}: 1,000 records of the widest kind (a vendor is at most ~450 bytes without attributes)
    max_bulk_body_bytes: int = Field(default=1024 * 1024, alias="MAX_BULK_BODY_BYTES")
    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")

    @property
    def allowed_webhook_hosts(self) -> frozenset[str]:
        """Hosts the local stack allows as webhook targets despite resolving to loopback (never in production)."""
        return frozenset(h.strip() for h in self.webhook_allowed_hosts.split(",") if h.strip())

    @property
    def allowed_webhook_ports(self) -> frozenset[int] | None:
        """Ports a webhook URL may use besides 443 (and 80 for a local plain-http host); ``*`` (the local stack,
        whose receiver listens on a random port) allows any: ``None``."""
        if self.webhook_allowed_ports.strip() == "*":
            return None
        return frozenset(int(p) for p in self.webhook_allowed_ports.split(",") if p.strip().isdigit())

    @classmethod
    def from_environment(cls) -> Settings:
        names = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({name: value for name, value in os.environ.items() if name in names})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
