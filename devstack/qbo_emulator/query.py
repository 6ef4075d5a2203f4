"""The subset of the QuickBooks Online query language the emulator answers.

``SELECT * | COUNT(*) FROM <Entity> [WHERE <Field> <op> <value> [AND ...]] [ORDERBY <Field> [ASC|DESC]]
[STARTPOSITION n] [MAXRESULTS n]`` with ``=``, ``!=``, ``<``, ``>``, ``<=``, ``>=``, ``IN (...)`` and ``LIKE``
(``%`` wildcards); string values in single quotes with ``\\'`` escapes; ``true``/``false``; numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),*])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<number>-?\d+(?:\.\d+)?))"
)
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000


class QueryError(Exception):
    """The query cannot be parsed (QuickBooks answers fault 4000 for this)."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[Any, ...]


@dataclass
class Query:
    entity: str
    count: bool = False
    conditions: list[Condition] = field(default_factory=list)
    order_by: str | None = None
    descending: bool = False
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS

    def mentions(self, name: str) -> bool:
        return any(c.field.lower() == name.lower() for c in self.conditions)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise QueryError(f"Error parsing query: unexpected text at '{text[position : position + 20]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _literal(kind: str, raw: str) -> Any:
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if kind == "number":
        return Decimal(raw)
    if kind == "word" and raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    raise QueryError(f"Error parsing query: '{raw}' is not a value")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise QueryError("Error parsing query: it ends too early")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        kind, raw = self.peek()
        if kind == "word" and raw.upper() == word:
            self.index += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word) and self.take()[1] != word:
            raise QueryError(f"Error parsing query: expected {word}")

    def parse(self) -> Query:
        self.expect("SELECT")
        count = False
        if self.keyword("COUNT"):
            for symbol in "(*)":
                self.expect(symbol)
            count = True
        else:
            self._columns()
        self.expect("FROM")
        kind, entity = self.take()
        if kind != "word":
            raise QueryError("Error parsing query: expected an entity after FROM")
        query = Query(entity=entity, count=count)
        if self.keyword("WHERE"):
            query.conditions.append(self._condition())
            while self.keyword("AND"):
                query.conditions.append(self._condition())
        if self.keyword("ORDERBY") or (self.keyword("ORDER") and self.keyword("BY")):
            query.order_by = self.take()[1]
            if self.keyword("DESC"):
                query.descending = True
            else:
                self.keyword("ASC")
        while self.peek()[0] != "end":
            if self.keyword("STARTPOSITION"):
                query.start_position = max(1, self._integer())
            elif self.keyword("MAXRESULTS"):
                query.max_results = min(MAX_RESULTS_LIMIT, max(1, self._integer()))
            else:
                raise QueryError(f"Error parsing query: unexpected '{self.peek()[1]}'")
        return query

    def _columns(self) -> None:
        kind, _ = self.take()
        if kind not in {"punct", "word"}:
            raise QueryError("Error parsing query: expected * or field names")
        while self.peek() == ("punct", ","):
            self.take()
            self.take()

    def _integer(self) -> int:
        kind, raw = self.take()
        if kind != "number":
            raise QueryError("Error parsing query: expected a number")
        return int(raw)

    def _condition(self) -> Condition:
        kind, name = self.take()
        if kind != "word":
            raise QueryError("Error parsing query: expected a field name")
        if self.keyword("IN"):
            self.expect("(")
            values = [_literal(*self.take())]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(_literal(*self.take()))
            self.expect(")")
            return Condition(name, "IN", tuple(values))
        if self.keyword("LIKE"):
            return Condition(name, "LIKE", (_literal(*self.take()),))
        op_kind, op = self.take()
        if op_kind != "op":
            raise QueryError(f"Error parsing query: expected an operator after {name}")
        return Condition(name, "!=" if op == "<>" else op, (_literal(*self.take()),))


def parse(text: str) -> Query:
    """Parse one query; raises QueryError on anything outside the supported subset."""
    return _Parser(text).parse()


def field_value(record: dict[str, Any], dotted: str) -> Any:
    """A record's value for ``Field`` or ``Parent.Child``; references compare by their ``value``."""
    current: Any = record
    for part in dotted.split("."):
        if not isinstance(current, dict):
            return None
        match = next((k for k in current if k.lower() == part.lower()), None)
        current = current.get(match) if match else None
    if isinstance(current, dict) and "value" in current:
        return current["value"]
    return current


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(right, bool):
        return bool(left), right
    if isinstance(right, Decimal):
        try:
            return Decimal(str(left)), right
        except (InvalidOperation, ValueError):
            return None, right
    return (None if left is None else str(left)), right


def matches(record: dict[str, Any], condition: Condition) -> bool:
    """True when ``record`` satisfies ``condition`` (string comparison is case-insensitive, as in QuickBooks)."""
    value = field_value(record, condition.field)
    if condition.op == "IN":
        return any(matches(record, Condition(condition.field, "=", (v,))) for v in condition.values)
    left, right = _comparable(value, condition.values[0])
    if left is None:
        return condition.op == "!="
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if condition.op == "LIKE":
        pattern = "^" + ".*".join(re.escape(part) for part in str(right).split("%")) + "$"
        return re.match(pattern, str(left), flags=re.IGNORECASE | re.DOTALL) is not None
    result: bool
    match condition.op:
        case "=":
            result = left == right
        case "!=":
            result = left != right
        case "<":
            result = left < right
        case ">":
            result = left > right
        case "<=":
            result = left <= right
        case ">=":
            result = left >= right
        case _:
            raise QueryError(f"Error parsing query: operator {condition.op} is not supported")
    return result
