"""The process log in the single table: a run is ``COMPANY#<cid>`` / ``RUN#<runId>`` (ids sort by start time, so
the partition reads newest first), indexed by name on gsi1 (``COMPANY#<cid>#RUNNAME#<name>`` / runId); an exclusive
run holds ``RUNLOCK#<name>`` while it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from ledgersync.adapters.aws_errors import aws_call
from ledgersync.adapters.dynamodb import SingleTable, company_pk, storable
from ledgersync.domain.process_log import (
    EXCLUSIVE_HOLD,
    MAX_MESSAGES,
    LogMessage,
    ProcessRun,
    RunInProgress,
    RunStatus,
    new_run_id,
)
from ledgersync.errors import Conflict

RUN = "RUN#"
ADD_ATTEMPTS = 4  # an add that keeps losing the size race to other adds gives up keeping its messages
LOCK_TTL_SECONDS = 86_400  # the lock item's own TTL (cleanup only: a stale holder is judged by its run's news)


def name_key(company_id: str, name: str) -> str:
    return f"{company_pk(company_id)}#RUNNAME#{name}"


def _run(item: Mapping[str, Any]) -> ProcessRun:
    return ProcessRun(
        run_id=item["runId"],
        name=item["name"],
        started_at=datetime.fromisoformat(item["startedAt"]),
        finished_at=datetime.fromisoformat(item["finishedAt"]) if item.get("finishedAt") else None,
        status=RunStatus(item["status"]),
        counts={str(k): int(v) for k, v in (item.get("counts") or {}).items()},
        messages=[LogMessage.model_validate(m) for m in item.get("messages") or []],
        messages_not_kept=int(item.get("messagesNotKept", 0)),
    )


class DynamoProcessLogStore:
    """``ProcessLogStore`` on DynamoDB: messages appended with ``list_append`` under a size condition, counts with
    ``ADD``, the exclusive hold taken with a conditional write on the lock item."""

    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def start(self, company_id: str, name: str, now: datetime) -> ProcessRun:
        run = ProcessRun(run_id=new_run_id(now), name=name, started_at=now)
        self.table.put(self._run_item(company_id, run, exclusive=False))
        return run

    def _run_item(self, company_id: str, run: ProcessRun, exclusive: bool) -> dict[str, Any]:
        now, name = run.started_at, run.name
        return {
            "pk": company_pk(company_id),
            "sk": RUN + run.run_id,
            "gsi1pk": name_key(company_id, name),
            "gsi1sk": run.run_id,
            "runId": run.run_id,
            "name": name,
            "startedAt": now.isoformat(),
            "heartbeatAt": now.isoformat(),
            "status": RunStatus.RUNNING.value,
            "counts": {},
            "messages": [],
            "messagesNotKept": 0,
            "exclusive": exclusive,
        }

    def start_exclusive(self, company_id: str, name: str, now: datetime) -> ProcessRun:
        holder = self.running(company_id, name, now)
        if holder is not None:
            raise RunInProgress(holder)
        run = ProcessRun(run_id=new_run_id(now), name=name, started_at=now)
        item = self._run_item(company_id, run, exclusive=True)
        lock = self._lock_item(company_id, name, run.run_id, now)
        stale = self.table.get(company_pk(company_id), f"RUNLOCK#{name}")
        if stale is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:  # a finished or silent holder: taken over only if nobody else took it meanwhile
            condition = {
                "ConditionExpression": "runId = :held",
                "ExpressionAttributeValues": {":held": stale["runId"]},
            }
        try:
            self.table.transact([{"Put": {"Item": lock, **condition}}, {"Put": {"Item": item}}])
        except Conflict:  # another start took the lock first
            holder = self.running(company_id, name, now)
            if holder is None:  # it finished between our two reads: the caller may simply start again
                holder = run
            raise RunInProgress(holder) from None
        return run

    def _lock_item(self, company_id: str, name: str, run_id: str, now: datetime) -> dict[str, Any]:
        return {
            "pk": company_pk(company_id),
            "sk": f"RUNLOCK#{name}",
            "runId": run_id,
            "expiresAt": int(now.timestamp()) + LOCK_TTL_SECONDS,
        }

    def running(self, company_id: str, name: str, now: datetime) -> ProcessRun | None:
        lock = self.table.get(company_pk(company_id), f"RUNLOCK#{name}")
        if lock is None:
            return None
        item = self.table.get(company_pk(company_id), RUN + str(lock["runId"]))
        if item is None or item["status"] != RunStatus.RUNNING.value:
            return None
        if datetime.fromisoformat(item["heartbeatAt"]) + EXCLUSIVE_HOLD < now:
            return None
        return _run(item)

    def add(
        self,
        company_id: str,
        run_id: str,
        now: datetime,
        messages: Sequence[LogMessage] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        """One update: the messages appended while the run keeps fewer than ``MAX_MESSAGES`` with them (a size
        condition, so two adds at once cannot pass the cap), else only those that fit and the rest counted."""
        kept = [m.model_dump(mode="json") for m in messages]
        room = len(kept)  # first try: all of them fit (the common case, no read)
        for _ in range(ADD_ATTEMPTS):
            try:
                self._append(company_id, run_id, now, kept[:room], len(kept) - room, counts)
                return
            except Conflict:
                if not kept:
                    raise  # no such run
                item = self.table.get(company_pk(company_id), RUN + run_id)
                if item is None:
                    raise
                room = min(room, max(0, MAX_MESSAGES - len(item.get("messages") or [])))
        # still contended after ADD_ATTEMPTS: keep none of them, count them all (the cap holds)
        self._append(company_id, run_id, now, [], len(kept), counts)

    def _append(
        self,
        company_id: str,
        run_id: str,
        now: datetime,
        kept: list[dict[str, Any]],
        over: int,
        counts: Mapping[str, int] | None,
    ) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":now": now.isoformat()}
        sets = ["heartbeatAt = :now"]
        adds: list[str] = []
        condition = "attribute_exists(pk)"
        for n, (key, amount) in enumerate((counts or {}).items()):
            names[f"#c{n}"] = key
            values[f":c{n}"] = int(amount)
            adds.append(f"counts.#c{n} :c{n}")
        if kept:
            values[":m"] = storable(kept)
            values[":fit"] = MAX_MESSAGES - len(kept)
            sets.append("messages = list_append(messages, :m)")
            condition += " AND size(messages) <= :fit"
        if over:
            values[":over"] = over
            adds.append("messagesNotKept :over")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        self.table.update(
            company_pk(company_id),
            RUN + run_id,
            expression,
            names=names or None,
            values=values,
            condition=condition,
            returns="NONE",
        )

    def finish(self, company_id: str, run_id: str, status: RunStatus, now: datetime) -> ProcessRun:
        try:
            item = self.table.update(
                company_pk(company_id),
                RUN + run_id,
                "SET #s = :s, finishedAt = :now, heartbeatAt = :now",
                names={"#s": "status"},
                values={":s": status.value, ":now": now.isoformat(), ":running": RunStatus.RUNNING.value},
                condition="#s = :running",
            )
        except Conflict:  # finished already (or no such run)
            found = self.get(company_id, run_id)
            if found is None:
                raise
            return found
        if item.get("exclusive"):
            with suppress(Conflict):  # another run holds the name now (this one had gone silent)
                self.table.delete(
                    company_pk(company_id), f"RUNLOCK#{item['name']}", condition="runId = :r", values={":r": run_id}
                )
        return _run(item)

    def get(self, company_id: str, run_id: str) -> ProcessRun | None:
        if not run_id.startswith("run_"):
            return None
        item = self.table.get(company_pk(company_id), RUN + run_id)
        return _run(item) if item else None

    def page(
        self, company_id: str, limit: int, cursor: str | None, name: str | None = None
    ) -> tuple[list[ProcessRun], str | None]:
        from boto3.dynamodb.conditions import Key

        if name is not None:
            condition: Any = Key("gsi1pk").eq(name_key(company_id, name))
            if cursor:
                condition = condition & Key("gsi1sk").lt(cursor)
            kwargs: dict[str, Any] = {"IndexName": "gsi1"}
        else:
            condition = Key("pk").eq(company_pk(company_id))
            # between RUN# and RUN#<cursor>: the partition's other records sort outside it
            condition = condition & (Key("sk").between(RUN, RUN + cursor) if cursor else Key("sk").begins_with(RUN))
            kwargs = {}
        runs: list[ProcessRun] = []
        start: dict[str, Any] | None = None
        while len(runs) <= limit:
            query = {"KeyConditionExpression": condition, "ScanIndexForward": False, "Limit": limit + 1, **kwargs}
            if start:
                query["ExclusiveStartKey"] = start
            with aws_call("DynamoDB on the process log"):
                answer = self.table.table.query(**query)
            runs.extend(_run(item) for item in answer.get("Items", []) if item["runId"] != cursor)
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
        more = len(runs) > limit
        runs = runs[:limit]
        return runs, (runs[-1].run_id if more else None)
