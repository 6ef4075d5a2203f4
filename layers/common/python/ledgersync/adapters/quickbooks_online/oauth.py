"""Intuit OAuth 2.0: the intuit-oauth client with timeouts, its failures translated, and the app's credentials from
Secrets Manager (``IntuitOAuthApp``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import requests
from aws_lambda_powertools.utilities import parameters
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from ledgersync.adapters.quickbooks_online.faults import retry_after_seconds
from ledgersync.clock import Clock, SystemClock
from ledgersync.config import Settings
from ledgersync.domain.quickbooks_online import (
    TokenSet,
)
from ledgersync.errors import (
    LedgersyncError,
    NotConfigured,
    PermanentError,
    ReauthorizationRequired,
    RetryableError,
)

if TYPE_CHECKING:
    pass

# ---------------------------------------------------------------------------------------------- OAuth


class TimedAuthClient(AuthClient):  # type: ignore[misc]
    """intuit-oauth's client with a timeout on every request it makes (it sets none)."""

    timeout = 10.0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class IntuitOAuth:
    """Intuit OAuth 2.0 through intuit-oauth's AuthClient; ``environment`` is sandbox, production or a discovery URL."""

    def __init__(
        self, client_id: str, client_secret: str, redirect_uri: str, environment: str, clock: Clock | None = None
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.environment = environment
        self.clock = clock or SystemClock()

    def _client(self, **tokens: Any) -> Any:
        try:
            return TimedAuthClient(self.client_id, self.client_secret, self.redirect_uri, self.environment, **tokens)
        except (AuthClientError, requests.RequestException, ValueError) as failure:
            raise RetryableError("Intuit's OAuth discovery document could not be read; try again shortly.") from failure

    def authorization_url(self, state: str) -> str:
        """Where to send a person to connect a company (accounting scope); ``state`` comes back on the redirect."""
        url: str = self._client().get_authorization_url([Scopes.ACCOUNTING], state_token=state)
        return url

    def exchange_code(self, code: str, realm_id: str) -> TokenSet:
        """Trade the redirect's authorization code for the company's first tokens."""
        client = self._client()
        self._call(lambda: client.get_bearer_token(code, realm_id=realm_id))
        return self._tokens(client, realm_id)

    def refresh(self, realm_id: str, refresh_token: str) -> TokenSet:
        """New tokens for a refresh token (which rotates: store the returned one)."""
        client = self._client(refresh_token=refresh_token, realm_id=realm_id)
        self._call(lambda: client.refresh(refresh_token=refresh_token))
        return self._tokens(client, realm_id)

    def revoke(self, token: str) -> None:
        """Disconnect: revoke a refresh (or access) token."""
        client = self._client()
        self._call(lambda: client.revoke(token=token))

    def _tokens(self, client: Any, realm_id: str) -> TokenSet:
        now = self.clock.now()
        return TokenSet(
            realm_id=realm_id,
            access_token=client.access_token,
            refresh_token=client.refresh_token,
            access_expires_at=now + timedelta(seconds=int(client.expires_in or 3600)),
            refresh_expires_at=now + timedelta(seconds=int(client.x_refresh_token_expires_in or 0)),
            refreshed_at=now,
        )

    @staticmethod
    def _call(call: Callable[[], Any]) -> None:
        try:
            call()
        except AuthClientError as failure:
            raise _oauth_error(failure.status_code, failure.response) from failure
        except requests.RequestException as failure:
            raise RetryableError(
                f"Intuit's OAuth service could not be reached ({type(failure).__name__}); try again shortly."
            ) from failure


def _oauth_error(status: int, response: requests.Response) -> LedgersyncError:
    try:
        error = str(response.json().get("error", ""))
    except ValueError:
        error = ""
    if error == "invalid_grant":
        return ReauthorizationRequired(
            "Intuit refused the stored QuickBooks authorization (invalid_grant): it was "
            "revoked, expired or replaced. Reconnect QuickBooks Online in Settings > "
            "Integrations > QuickBooks."
        )
    if error == "invalid_client" or status == 401:
        return PermanentError(
            "Intuit refused Ledgersync's app credentials (invalid_client). Check the client id and "
            "secret in the QuickBooks app secret, then try again."
        )
    if status == 429 or status >= 500:
        return RetryableError(
            f"Intuit's OAuth service answered {status}; try again shortly.",
            retry_after_seconds=retry_after_seconds(response, 30.0),
        )
    return PermanentError(f"Intuit's OAuth service refused the request ({status} {error or 'no reason given'}).")


class IntuitAppNotConfigured(NotConfigured):
    """The Intuit app's credentials were never put in their secret (or still hold a placeholder).

    A 503 for the connect route and a retry (never a failed document) for queued work: it passes once the
    operator stores the credentials.
    """

    code = "IntuitAppNotConfigured"

    def __init__(self, secret: str, problem: str) -> None:
        super().__init__(
            f"The Intuit app is not configured: the secret {secret} {problem}. The operator must store the app's "
            f"credentials: aws secretsmanager put-secret-value --secret-id {secret} --secret-string "
            """'{"clientId": "...", "clientSecret": "..."}' (see docs/deploy.md)."""
        )


_PLACEHOLDER = ("REPLACE", "CHANGE_ME", "PLACEHOLDER", "<", "...")


def app_credentials(settings: Settings) -> tuple[str, str]:
    """The Intuit app's client id and secret from the QBO_APP_SECRET secret ({"clientId", "clientSecret"})."""
    name = settings.qbo_app_secret
    try:
        value = parameters.get_secret(name, transform="json", max_age=300)
    except parameters.exceptions.TransformParameterError as err:
        raise IntuitAppNotConfigured(name, "does not hold JSON") from err
    except parameters.exceptions.GetParameterError as err:
        if "ResourceNotFoundException" in str(err):  # created without a value, as the template does
            raise IntuitAppNotConfigured(name, "has no value yet") from err
        raise RetryableError(f"Secrets Manager could not read {name} ({err}); try again shortly.") from err
    if not isinstance(value, dict):
        raise IntuitAppNotConfigured(name, "must hold a JSON object")
    for key in ("clientId", "clientSecret"):
        text = str(value.get(key) or "").strip()
        if not text:
            raise IntuitAppNotConfigured(name, f"has no {key}")
        if any(marker in text.upper() for marker in _PLACEHOLDER):
            raise IntuitAppNotConfigured(name, f"still holds a placeholder {key}")
    return str(value["clientId"]).strip(), str(value["clientSecret"]).strip()


class IntuitOAuthApp:
    """The one Intuit OAuth adapter: the app's credentials read from Secrets Manager on each use (Powertools caches
    them five minutes), so building it reads no secret and calls no one, and an app not configured yet answers
    ``IntuitAppNotConfigured`` (held, not failed) whether a person connects or the refresher runs.

    The redirect URI is the configured one, else the one of the authorization in progress (it must match between
    authorize and exchange)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def _oauth(self, redirect_uri: str = "") -> IntuitOAuth:
        client_id, client_secret = app_credentials(self.settings)
        return IntuitOAuth(
            client_id,
            client_secret,
            self.settings.qbo_redirect_uri or redirect_uri,
            self.settings.qbo_environment,
            self.clock,
        )

    def authorization_url(self, state: str, redirect_uri: str) -> str:
        return self._oauth(redirect_uri).authorization_url(state)

    def exchange_code(self, code: str, realm_id: str, redirect_uri: str) -> TokenSet:
        return self._oauth(redirect_uri).exchange_code(code, realm_id)

    def refresh(self, realm_id: str, refresh_token: str) -> TokenSet:
        return self._oauth().refresh(realm_id, refresh_token)

    def revoke(self, token: str) -> None:
        self._oauth().revoke(token)
