"""Companies, users and tokens in the single table."""

from __future__ import annotations

from typing import Any

from ledgersync.adapters.dynamodb import SingleTable, TransactionConflict, company_pk
from ledgersync.domain.accounts import Company, Role, TokenRecord, User
from ledgersync.errors import Conflict


class DynamoAccountStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def create_company(self, company: Company, admin: User, token: TokenRecord) -> None:
        try:
            self.table.transact(
                [
                    {"Put": {"Item": _company_item(company), "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Put": {"Item": _user_item(admin), "ConditionExpression": "attribute_not_exists(pk)"}},
                    {"Put": {"Item": _token_item(token), "ConditionExpression": "attribute_not_exists(pk)"}},
                ]
            )
        except TransactionConflict as err:
            raise Conflict("the company could not be created; try again") from err

    def get_company(self, company_id: str) -> Company | None:
        item = self.table.get(company_pk(company_id), "PROFILE")
        if not item:
            return None
        return Company(id=item["companyId"], name=item["name"], currency=item["currency"], created_at=item["createdAt"])

    def company_ids(self) -> list[str]:
        """Every company, for the scheduled sweeps."""
        return [str(item["companyId"]) for item in self.table.query_prefix("COMPANYNAME", "", index="gsi1")]

    def put_user(self, user: User, token: TokenRecord) -> None:
        self.table.transact(
            [
                {"Put": {"Item": _user_item(user), "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"Item": _token_item(token), "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        )

    def get_user(self, company_id: str, user_id: str) -> User | None:
        item = self.table.get(company_pk(company_id), f"USER#{user_id}")
        if not item:
            return None
        return User(
            id=item["userId"],
            company_id=company_id,
            name=item["name"],
            email=item["email"],
            roles=tuple(Role(r) for r in item["roles"]),
        )

    def put_token(self, token: TokenRecord) -> None:
        self.table.put(_token_item(token), condition="attribute_not_exists(pk)")

    def get_token(self, token_hash: str) -> TokenRecord | None:
        item = self.table.get(f"TOKEN#{token_hash}", "TOKEN")
        if not item or item.get("revoked"):
            return None
        return TokenRecord(
            token_id=item["tokenId"],
            token_hash=token_hash,
            company_id=item["companyId"],
            user_id=item["userId"],
            api_methods=tuple(item.get("apiMethods", [])),
            roles=tuple(Role(r) for r in item.get("roles", [])),
            description=item.get("description"),
        )

    def revoke_token(self, company_id: str, token_id: str) -> bool:
        """Delete the company's token whose id is exactly ``token_id``; False when it has none (a prefix of an id
        is not an id)."""
        candidates = self.table.query_prefix(company_pk(company_id), f"TOKENID#{token_id}", index="gsi1")
        found = next((item for item in candidates if item.get("gsi1sk") == f"TOKENID#{token_id}"), None)
        if found is None or found.get("tokenId") != token_id or found.get("companyId") != company_id:
            return False
        self.table.delete(found["pk"], "TOKEN")
        return True


def _company_item(company: Company) -> dict[str, Any]:
    return {
        "pk": company_pk(company.id),
        "sk": "PROFILE",
        "companyId": company.id,
        "name": company.name,
        "currency": company.currency,
        "createdAt": company.created_at,
        "gsi1pk": "COMPANYNAME",
        "gsi1sk": company.name.casefold(),
    }


def _user_item(user: User) -> dict[str, Any]:
    return {
        "pk": company_pk(user.company_id),
        "sk": f"USER#{user.id}",
        "userId": user.id,
        "name": user.name,
        "email": user.email,
        "roles": [r.value for r in user.roles],
    }


def _token_item(token: TokenRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"TOKEN#{token.token_hash}",
        "sk": "TOKEN",
        "tokenId": token.token_id,
        "companyId": token.company_id,
        "userId": token.user_id,
        "apiMethods": list(token.api_methods),
        "roles": [r.value for r in token.roles],
        "gsi1pk": company_pk(token.company_id),
        "gsi1sk": f"TOKENID#{token.token_id}",
    }
    if token.description:
        item["description"] = token.description
    return item
