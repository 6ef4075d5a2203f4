"""JSON documents kept in Secrets Manager, one secret each: the one get/put/create the typed stores compose."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from ledgersync.adapters.aws import client as aws_client
from ledgersync.adapters.aws_errors import AwsResourceMissing, aws_call
from ledgersync.errors import Conflict, PermanentError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretsManagerJsonStore:
    """One JSON object per secret, ``<prefix>/<name>`` (encrypted at rest by Secrets Manager).

    ``what`` names a document in error messages, before its name ("the QuickBooks tokens of company"); a failure
    leaves as the domain error of ``aws_errors`` with the fix: the function's secretsmanager permissions on
    ``<prefix>/*``.
    """

    def __init__(self, prefix: str, what: str, client: SecretsManagerClient | None = None) -> None:
        self.prefix = prefix.rstrip("/")
        self.what = what
        self._client = client

    def client(self) -> SecretsManagerClient:
        if self._client is None:
            self._client = cast("SecretsManagerClient", aws_client("secretsmanager"))
        return self._client

    def secret_name(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def load(self, name: str) -> dict[str, Any] | None:
        """The JSON object of ``<prefix>/<name>``, or None when that secret was never written."""
        try:
            with aws_call(f"reading {self.what} {name}", self._fix()):
                text = self.client().get_secret_value(SecretId=self.secret_name(name))["SecretString"]
        except AwsResourceMissing:
            return None
        value = json.loads(text)
        if not isinstance(value, dict):
            raise PermanentError(f"{self.what} {name} is not a JSON object; write it again, {self._fix()}")
        return value

    def save(self, name: str, value: Mapping[str, Any], description: str = "") -> None:
        """Write ``value`` as the secret's current version, creating the secret the first time.

        Two first writes racing: the one whose create loses (the secret exists now) writes a new version, so
        both land and the last one is current, as two puts would.
        """
        secret_id, text = self.secret_name(name), json.dumps(value, separators=(",", ":"))
        try:
            self._put(name, secret_id, text)
        except AwsResourceMissing:
            try:
                with aws_call(f"creating the secret for {self.what} {name}", self._fix()):
                    self.client().create_secret(Name=secret_id, SecretString=text, Description=description or name)
            except Conflict:  # another writer created it between our put and our create
                self._put(name, secret_id, text)

    def _put(self, name: str, secret_id: str, text: str) -> None:
        with aws_call(f"writing {self.what} {name}", self._fix()):
            self.client().put_secret_value(SecretId=secret_id, SecretString=text)

    def _fix(self) -> str:
        return f"check the function's secretsmanager permissions on {self.prefix}/*"
