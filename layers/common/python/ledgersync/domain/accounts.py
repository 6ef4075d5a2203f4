"""Companies, users, roles and API tokens. Tokens are shown once and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from pydantic.alias_generators import to_camel

from ledgersync.errors import FieldError, Forbidden, NotFound, Unauthorized, ValidationFailed

ALL_METHODS = "*"
TOKEN_PREFIX = "lsk_"


class Role(StrEnum):
    ADMIN = "Admin"
    ACCOUNTS_PAYABLE = "Accounts Payable"
    ACCOUNTING = "Accounting"
    PROCUREMENT = "Procurement"
    PROCUREMENT_MANAGER = "Procurement Manager"
    SALES = "Sales"
    # Seed 001: the PO Reconciliation webhook is set up by "Admin and Setup". Only an Admin grants it (the
    # token-issuing rule: an Admin grants every role, no other role grants any).
    SETUP = "Setup"


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class CompanyCreate(_Camel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    currency: CurrencyCode = "USD"


class CompanyCreated(_Camel):
    company_id: str
    admin_token: str
    user_id: str


class UserCreate(_Camel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    email: EmailStr
    roles: list[Role] = Field(min_length=1)


class UserCreated(_Camel):
    user_id: str
    token: str
    token_id: str
    api_methods: list[str]


class TokenCreate(_Camel):
    user_id: str = Field(min_length=1, max_length=40)
    api_methods: list[Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z]+\.[A-Za-z]+)$")]] = Field(
        default_factory=list, max_length=100
    )
    description: str | None = Field(default=None, max_length=100)


class TokenCreated(_Camel):
    token_id: str
    token: str
    api_methods: list[str]


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    currency: str
    created_at: str


@dataclass(frozen=True)
class User:
    id: str
    company_id: str
    name: str
    email: str
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    token_hash: str
    company_id: str
    user_id: str
    api_methods: tuple[str, ...]
    roles: tuple[Role, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the company, the user and what the token allows."""

    company_id: str
    user_id: str
    roles: frozenset[Role]
    token_id: str
    api_methods: frozenset[str] = field(default_factory=frozenset)

    def require_method(self, method: str) -> None:
        """Refuse a token that is not allowed to call ``method`` (a token with no method is Web Connector only)."""
        if ALL_METHODS in self.api_methods or method in self.api_methods:
            return
        if not self.api_methods:
            raise Forbidden("this token has no API method: it is valid only as the QuickBooks Web Connector password")
        raise Forbidden(f"this token may not call '{method}'; it allows: {', '.join(sorted(self.api_methods))}")

    def require_role(self, allowed: set[Role], action: str) -> None:
        if not self.roles & allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(f"only users with one of these roles may {action}: {names}")

    @property
    def grantable_roles(self) -> frozenset[Role]:
        """The roles this caller may give a user (or a user's token): every role for an Admin, none otherwise."""
        return frozenset(Role) if Role.ADMIN in self.roles else frozenset()

    def require_may_issue(self, methods: Sequence[str], user_id: str, user_roles: Sequence[Role]) -> None:
        """The token-issuing rule (docs/decisions.md): a token never allows more than the token that issues it.

        Any user may issue tokens for itself; only an Admin for another user (a user whose roles the caller may
        grant). The methods must be a subset of the issuing token's own, and ``*`` only comes from an Admin whose
        token is ``*``.
        """
        if user_id != self.user_id and not set(user_roles) <= self.grantable_roles:
            raise Forbidden(f"userId: only an Admin may issue tokens for another user ('{user_id}')")
        if ALL_METHODS in methods and (Role.ADMIN not in self.roles or ALL_METHODS not in self.api_methods):
            raise Forbidden("apiMethods: only an Admin whose own token allows every method ('*') may issue '*'")
        if ALL_METHODS in self.api_methods:
            return
        beyond = sorted(set(methods) - self.api_methods)
        if beyond:
            raise Forbidden(
                f"apiMethods: a token may only issue methods it allows itself; this one does not allow "
                f"{', '.join(beyond)}"
            )


class AccountStore(Protocol):
    def create_company(self, company: Company, admin: User, token: TokenRecord) -> None: ...
    def get_company(self, company_id: str) -> Company | None: ...
    def put_user(self, user: User, token: TokenRecord) -> None: ...
    def get_user(self, company_id: str, user_id: str) -> User | None: ...
    def put_token(self, token: TokenRecord) -> None: ...
    def get_token(self, token_hash: str) -> TokenRecord | None: ...
    def revoke_token(self, company_id: str, token_id: str) -> bool: ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def admin_key_matches(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest((given or "").encode(), expected.encode())


class Accounts:
    """Use cases on companies, users and tokens."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def create_company(self, request: CompanyCreate) -> CompanyCreated:
        company = Company(
            id=new_id("co"), name=request.name, currency=request.currency, created_at=datetime.now(UTC).isoformat()
        )
        admin = User(
            id=new_id("usr"),
            company_id=company.id,
            name=f"{request.name} admin",
            email="admin@invalid",
            roles=(Role.ADMIN,),
        )
        token = new_token()
        record = TokenRecord(
            new_id("tok"), hash_token(token), company.id, admin.id, (ALL_METHODS,), admin.roles, "admin token"
        )
        self.store.create_company(company, admin, record)
        return CompanyCreated(company_id=company.id, admin_token=token, user_id=admin.id)

    def create_user(self, caller: Principal, request: UserCreate) -> UserCreated:
        """A new user and its first token, which allows what the caller's own token allows (``*`` or its list)."""
        caller.require_role({Role.ADMIN}, "create users")
        user = User(
            id=new_id("usr"),
            company_id=caller.company_id,
            name=request.name,
            email=str(request.email),
            roles=tuple(dict.fromkeys(request.roles)),
        )
        methods = (ALL_METHODS,) if ALL_METHODS in caller.api_methods else tuple(sorted(caller.api_methods))
        caller.require_may_issue(methods, user.id, user.roles)
        token = new_token()
        record = TokenRecord(
            new_id("tok"), hash_token(token), user.company_id, user.id, methods, user.roles, "user token"
        )
        self.store.put_user(user, record)
        return UserCreated(user_id=user.id, token=token, token_id=record.token_id, api_methods=list(methods))

    def create_token(self, caller: Principal, request: TokenCreate) -> TokenCreated:
        """A token for ``request.user_id`` under the token-issuing rule (``Principal.require_may_issue``)."""
        if request.user_id != caller.user_id:
            caller.require_role({Role.ADMIN}, "issue tokens for other users")
        user = self.store.get_user(caller.company_id, request.user_id)
        if user is None:
            raise ValidationFailed(FieldError("userId", f"no user '{request.user_id}' in this company"))
        methods = tuple(dict.fromkeys(request.api_methods))
        caller.require_may_issue(methods, user.id, user.roles)
        token = new_token()
        record = TokenRecord(
            new_id("tok"),
            hash_token(token),
            caller.company_id,
            request.user_id,
            methods,
            user.roles,
            request.description,
        )
        self.store.put_token(record)
        return TokenCreated(token_id=record.token_id, token=token, api_methods=list(methods))

    def revoke_token(self, caller: Principal, token_id: str) -> None:
        caller.require_role({Role.ADMIN}, "revoke tokens")
        if not self.store.revoke_token(caller.company_id, token_id):
            raise NotFound(f"no token '{token_id}' in this company")

    def authenticate(self, token: str | None) -> Principal:
        """The principal a presented token stands for; a revoked or unknown token is refused."""
        if not token:
            raise Unauthorized("an API token is required (Authorization: Bearer <token>, or authenticationToken)")
        record = self.store.get_token(hash_token(token.strip()))
        if record is None:
            raise Unauthorized("the API token is not valid (unknown or revoked)")
        return Principal(
            company_id=record.company_id,
            user_id=record.user_id,
            roles=frozenset(record.roles),
            token_id=record.token_id,
            api_methods=frozenset(record.api_methods),
        )
