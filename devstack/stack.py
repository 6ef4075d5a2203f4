"""The local stack: template.yaml run without Docker or AWS.

moto in server mode holds every table, queue, bucket, secret, e-mail identity and schedule rule the
template declares; the gateway serves its routes; pollers and schedules drive its other events; the
QuickBooks Online emulator and the webhook receiver stand in for the outside world.

One LocalStack runs per process at a time: the handlers read their settings from ``os.environ``, which
the stack sets on start and restores on stop.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import boto3
from aws_lambda_powertools.utilities.parameters import base as parameters_base

from devstack.atomic_moto import AtomicMotoServer, OutboxMark, SesOutbox
from devstack.gateway import Gateway
from devstack.pollers import PollResult, SqsPoller
from devstack.runtime import ACCOUNT_ID, ExecutionEnvironment, LocalFunction
from devstack.schedules import Schedules
from devstack.schedules import key as schedule_key
from devstack.seed import DemoCompany, example_curl, seed_demo_books, seed_demo_company
from devstack.template import DEFAULT_TEMPLATE, NO_VALUE, Resolver, Template, TemplateError
from ledgersync.observability import redact_text

DEFAULT_REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
LOCAL_SENDER = "no-reply@ledgersync.local"  # the NotificationSender parameter's local value (it has no default)


@dataclass
class DrainReport:
    """What drain_queues did, and what is left (delayed messages are future work, not waited for)."""

    invocations: int = 0
    succeeded: int = 0
    failed: int = 0
    delayed: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)


@dataclass
class LocalResources:
    """Physical names of what the template declared, by logical id."""

    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    dead_letter_queues: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    email_identities: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)


class LocalStack:
    """Start with ``with LocalStack() as stack:``; ``stack.api_url`` is then ready to call."""

    def __init__(
        self,
        template_path: Path | None = None,
        *,
        host: str = "127.0.0.1",
        api_port: int = 0,
        stack_name: str | None = None,
        admin_api_key: str | None = None,
        region: str = DEFAULT_REGION,
        pollers: bool = True,
        schedules: bool = True,
        emulators: bool = True,
        seed: bool = False,
        parameters: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        log_requests: bool = False,
        print_emails: bool = False,
        schedule_speedup: float = 1.0,
    ) -> None:
        self.template_path = (template_path or DEFAULT_TEMPLATE).resolve()
        self.host = host
        self.api_port = api_port
        self.stack_name = stack_name or f"devstack-{secrets.token_hex(3)}"
        self.admin_api_key = admin_api_key or secrets.token_urlsafe(24)
        self.region = region
        self.run_pollers = pollers
        self.run_schedules = schedules
        self.run_emulators = emulators
        self.seed = seed
        self.parameter_overrides = dict(parameters or {})
        self.environment_overrides = dict(environment or {})
        self.log_requests = log_requests
        self.print_emails = print_emails
        self.schedule_speedup = schedule_speedup
        self.template = Template.load(self.template_path)
        self.resources = LocalResources()
        self.functions: dict[str, LocalFunction] = {}
        self.environment: dict[str, str] = {}
        self.pollers: list[SqsPoller] = []
        self.emulators: dict[str, Any] = {}
        self.demo: DemoCompany | None = None
        self.moto_url = ""
        self._stop = threading.Event()
        self._moto: Any = None
        self._gateway: Gateway | None = None
        self._schedules: Schedules | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._added_sys_path: list[str] = []
        self._outbox: SesOutbox | None = None
        self._emails_from = OutboxMark(0, 0)
        self._email_thread: threading.Thread | None = None
        self._clients: dict[str, Any] = {}
        self._active: dict[str, dict[str, Any]] = {}
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start moto, create the template's resources, serve the API, start pollers and schedules."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._add_layers_to_path()
        self._start_moto()
        self._gateway = Gateway(
            self.template.routes,
            self.invoke,
            host=self.host,
            port=self.api_port,
            stage=self._parameter_value("Stage", "local"),
            api_id=self.stack_name.replace("-", "")[:10],
            binary_media_types=self.template.binary_media_types(),
            gateway_responses=self.template.gateway_responses(),
            admin=self._admin,
            log=(lambda line: print(f"  {line}")) if self.log_requests else None,
        )
        self._gateway.start()
        if self.run_emulators:
            self._start_emulators()
        resolver = self._create_resources()
        self._apply_environment(resolver)
        api_environment = ExecutionEnvironment()  # shared by the API functions: see ExecutionEnvironment
        api_functions = {route.function_id for route in self.template.routes}
        for logical_id, spec in self.template.functions.items():
            self.functions[logical_id] = LocalFunction(
                spec,
                self.resources.functions[logical_id],
                self.region,
                environment=api_environment if logical_id in api_functions else None,
            )
        self._outbox = SesOutbox(self._moto.lock, ACCOUNT_ID, self.region)
        self._emails_from = self._outbox.mark()
        self._start_pollers()
        self._start_schedules()
        self.started = True
        if self.seed:
            self.demo = seed_demo_company(self.api_url, self.admin_api_key)
            qbo_state = getattr(self.emulators.get("qbo"), "state", None)
            if qbo_state is not None:
                seed_demo_books(qbo_state, qbo_state.approve_realm)
        self._gateway.ready.set()
        if self.print_emails:
            self._email_thread = threading.Thread(target=self._echo_emails, name="devstack-emails", daemon=True)
            self._email_thread.start()

    def stop(self) -> None:
        """Stop pollers, schedules, servers and emulators; restore the process environment."""
        self._stop.set()
        for poller in self.pollers:
            poller.join()
        if self._schedules is not None:
            self._schedules.join()
        if self._email_thread is not None:
            self._email_thread.join(timeout=3)
            self._email_thread = None
        if self._gateway is not None:
            self._gateway.shutdown()
            self._gateway = None
        for name, emulator in list(self.emulators.items()):
            try:
                emulator.shutdown()
            except Exception as error:  # stopping the rest matters more
                print(f"devstack: stopping {name} failed: {error}", file=sys.stderr)
        self.emulators.clear()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        for entry in self._added_sys_path:
            if entry in sys.path:
                sys.path.remove(entry)
        self._added_sys_path.clear()
        _reset_process_caches()
        self.started = False

    # ------------------------------------------------------------------ what tests and tools call
    @property
    def api_url(self) -> str:
        """The local API's base URL, e.g. http://127.0.0.1:3000 (routes sit at its root, no stage prefix)."""
        if self._gateway is None:
            raise RuntimeError("the stack is not started")
        return self._gateway.url

    def invoke(self, function_id: str, event: Any) -> Any:
        """Invoke a function of the template directly, in this process."""
        return self.functions[function_id].invoke(event)

    def client(self, service: str) -> Any:
        """A boto3 client on the stack's moto server."""
        if service not in self._clients:
            session = boto3.session.Session(
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=self.region,
            )
            self._clients[service] = session.client(service, endpoint_url=self.moto_url)  # type: ignore[call-overload]
        return self._clients[service]

    def drain_queues(self, timeout: float = 30.0, redeliver_failures_now: bool = True) -> DrainReport:
        """Run the pollers until no queue holds a visible or in-flight message.

        With ``redeliver_failures_now`` a failed message comes back at once instead of after its visibility
        timeout, so retries and the redrive to the dead-letter queue happen within the call.
        """
        report = DrainReport()
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            poller.paused.set()
        try:
            while True:
                progressed = False
                for poller in self.pollers:
                    result: PollResult = poller.poll_once(0, redeliver_failures_now)
                    if result.received:
                        progressed = True
                        report.invocations += 1
                        report.succeeded += result.succeeded
                        report.failed += result.failed
                if not progressed:
                    pending, delayed = self._queue_backlog()
                    if not pending:
                        report.delayed = delayed
                        report.dead_letters = self.dead_letter_depths()
                        return report
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"queues still hold messages after {timeout} s: {pending}")
                    time.sleep(0.05)
        finally:
            for poller in self.pollers:
                poller.paused.clear()

    def run_schedule(self, name: str) -> Any:
        """Run a schedule now (``FunctionLogicalId``, ``Function.Event`` or the event's name)."""
        if self._schedules is None:
            raise RuntimeError("the stack is not started")
        return self._schedules.run_now(name)

    def redrive(self, dead_letter_queue: str) -> int:
        """Move a dead-letter queue's messages back to the queue that dead-lettered them (by either logical id).

        moto has no ``start_message_move_task``; on AWS run ``aws sqs start-message-move-task --source-arn <DLQ>``.
        """
        from ledgersync.adapters.messaging import redrive

        sources = {dlq: source for source, dlq in self.resources.dead_letter_queues.items()}
        if dead_letter_queue in self.resources.dead_letter_queues:
            dead_letter_queue = self.resources.dead_letter_queues[dead_letter_queue]
        if dead_letter_queue not in sources:
            known = ", ".join(sorted(sources)) or "none"
            raise KeyError(f"'{dead_letter_queue}' is not a dead-letter queue; known: {known}")
        queues = self.resources.queues
        return redrive(queues[dead_letter_queue], queues[sources[dead_letter_queue]])

    def emails(self) -> list[dict[str, Any]]:
        """E-mails sent through SES since this stack started, oldest first."""
        if self._outbox is None:
            return []
        return self._outbox.since(self._emails_from)[0]

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Per queue logical id: visible, in-flight and delayed message counts."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        depths = {}
        for logical_id, url in self.resources.queues.items():
            attributes = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            depths[logical_id] = {
                "visible": int(attributes[names[0]]),
                "in_flight": int(attributes[names[1]]),
                "delayed": int(attributes[names[2]]),
            }
        return depths

    def dead_letter_depths(self) -> dict[str, int]:
        """Messages waiting in each dead-letter queue, by the DLQ's logical id."""
        depths = self.queue_depths()
        return {dlq: sum(depths[dlq].values()) for dlq in set(self.resources.dead_letter_queues.values())}

    def endpoints(self) -> dict[str, Any]:
        """Everything a person needs to use the stack: URLs, the admin key, the demo company and a curl."""
        out: dict[str, Any] = {
            "api_url": self.api_url,
            "qbwc_url": f"{self.api_url}/qbwc",
            "docs_url": f"{self.api_url}/v1/docs",
            "openapi_url": f"{self.api_url}/v1/openapi.json",
            "emails_url": f"{self.api_url}/__devstack/emails",
            "moto_url": self.moto_url,
            "admin_api_key": self.admin_api_key,
            "stack_name": self.stack_name,
            "resources": {
                "tables": self.resources.tables,
                "queues": self.resources.queues,
                "buckets": self.resources.buckets,
                "secrets": self.resources.secrets,
            },
            "emulators": {name: getattr(e, "url", None) for name, e in self.emulators.items()},
        }
        if self.demo is not None:
            out["demo"] = {
                "company_id": self.demo.company_id,
                "user_id": self.demo.user_id,
                "admin_token": self.demo.admin_token,
                "token": self.demo.token,
            }
            out["try"] = example_curl(self.api_url, self.demo.token or "<token>")
        return out

    # ------------------------------------------------------------------ start-up steps
    def _add_layers_to_path(self) -> None:
        """Lambda mounts each layer at /opt and puts /opt/python on sys.path; so does the local stack."""
        for resource in self.template.of_type("AWS::Serverless::LayerVersion").values():
            content = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content, str):
                folder = str((self.template.root / content / "python").resolve())
                if Path(folder).is_dir() and folder not in sys.path:
                    sys.path.append(folder)
                    self._added_sys_path.append(folder)

    def _start_moto(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = AtomicMotoServer(self.host, 0).start()
        self.moto_url = self._moto.url

    def _start_emulators(self) -> None:
        for name, module in (("qbo", "devstack.qbo_emulator"), ("webhook_receiver", "devstack.webhook_receiver")):
            try:
                serve = importlib.import_module(module).serve
            except (ImportError, AttributeError) as error:
                print(f"devstack: {module} is not available yet, skipped ({error})", file=sys.stderr)
                continue
            self.emulators[name] = serve(self.host, int(os.environ.get(f"DEVSTACK_{name.upper()}_PORT", "0")))

    def _parameter_value(self, name: str, local_default: str) -> str:
        return self.parameter_overrides.get(name, local_default)

    def _parameters(self) -> dict[str, str]:
        values = {name: str(p.get("Default", "")) for name, p in self.template.parameters.items()}
        api_url = self.api_url if self._gateway is not None else "https://api.ledgersync.local"
        local = {
            "Stage": "local",
            "PublicBaseUrl": api_url,
            "QboRedirectUri": f"{api_url}/v1/accounting/quickbooks-online/callback",
            "NotificationSender": LOCAL_SENDER,
            # locally the stack verifies its own sender, as a first deploy asked to would (moto refuses unverified)
            "SenderIdentity": "email",
        }
        values.update({k: v for k, v in local.items() if k in values})
        values.update(self.parameter_overrides)
        return values

    def plan(self) -> Resolver:
        """Name every active resource as CloudFormation would and return the resolver; creates nothing."""
        template = self.template
        refs: dict[str, str] = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
            **self._parameters(),
        }
        attributes: dict[tuple[str, str], str] = {}
        resolver = Resolver(template, refs, attributes)
        active = {
            lid: res
            for lid, res in template.resources.items()
            if "Condition" not in res or resolver.condition(str(res["Condition"]))
        }
        self._assign_physical_ids(active, resolver, refs, attributes)
        self._active = active
        return resolver

    def _create_resources(self) -> Resolver:
        resolver = self.plan()
        active = self._active
        for lid, res in active.items():
            creator = _CREATORS.get(res.get("Type", ""))
            if creator is not None and res.get("Type") != "AWS::SQS::Queue":
                creator(self, lid, resolver.resolve(res.get("Properties") or {}))
        for lid in _queues_in_dependency_order(active):
            _create_queue(self, lid, resolver.resolve(active[lid].get("Properties") or {}))
        self._create_schedule_rules()
        return resolver

    def _assign_physical_ids(
        self,
        active: Mapping[str, dict[str, Any]],
        resolver: Resolver,
        refs: dict[str, str],
        attributes: dict[tuple[str, str], str],
    ) -> None:
        """Name each resource as CloudFormation would (``<stack>-<LogicalId>`` unless named); record Ref/GetAtt."""
        arn = f"{self.region}:{ACCOUNT_ID}"
        for lid, res in active.items():
            props = res.get("Properties") or {}
            kind = res.get("Type", "")
            default_name = f"{self.stack_name}-{lid}"
            if kind == "AWS::DynamoDB::Table":
                name = _named(resolver, props, "TableName", default_name)
                refs[lid] = self.resources.tables[lid] = name
                attributes[(lid, "Arn")] = f"arn:aws:dynamodb:{arn}:table/{name}"
            elif kind == "AWS::SQS::Queue":
                name = _named(resolver, props, "QueueName", default_name[:75])
                if props.get("FifoQueue") and not name.endswith(".fifo"):
                    name += ".fifo"
                url = f"{self.moto_url}/{ACCOUNT_ID}/{name}"
                refs[lid] = self.resources.queues[lid] = url
                attributes[(lid, "QueueUrl")] = url
                attributes[(lid, "QueueName")] = name
                attributes[(lid, "Arn")] = self.resources.queue_arns[lid] = f"arn:aws:sqs:{arn}:{name}"
            elif kind == "AWS::S3::Bucket":
                name = _named(resolver, props, "BucketName", default_name.lower()[:63])
                refs[lid] = self.resources.buckets[lid] = name
                attributes[(lid, "Arn")] = f"arn:aws:s3:::{name}"
                attributes[(lid, "DomainName")] = f"{name}.s3.amazonaws.com"
                attributes[(lid, "RegionalDomainName")] = f"{name}.s3.{self.region}.amazonaws.com"
            elif kind == "AWS::SecretsManager::Secret":
                name = _named(resolver, props, "Name", default_name)
                self.resources.secrets[lid] = name
                refs[lid] = f"arn:aws:secretsmanager:{arn}:secret:{name}"
            elif kind == "AWS::SES::EmailIdentity":
                refs[lid] = self.resources.email_identities[lid] = str(resolver.resolve(props["EmailIdentity"]))
            elif kind == "AWS::Serverless::Function":
                name = _named(resolver, props, "FunctionName", default_name[:64])
                refs[lid] = self.resources.functions[lid] = name
                attributes[(lid, "Arn")] = f"arn:aws:lambda:{arn}:function:{name}"
            elif kind == "AWS::Serverless::Api":
                refs[lid] = self.stack_name.replace("-", "")[:10]
                attributes[(lid, "RootResourceId")] = "root"
            elif kind == "AWS::SNS::Topic":
                refs[lid] = attributes[(lid, "TopicArn")] = f"arn:aws:sns:{arn}:{default_name}"
                attributes[(lid, "TopicName")] = default_name
            else:
                refs[lid] = default_name
                attributes[(lid, "Arn")] = f"arn:aws:local:{arn}:{default_name}"

    def _apply_environment(self, resolver: Resolver) -> None:
        """Resolve each function's environment; apply the union to the process (they must agree)."""
        merged: dict[str, tuple[str, str]] = {}
        for logical_id, spec in self.template.functions.items():
            for name, raw in spec.environment.items():
                if resolver.resolve(raw) is NO_VALUE:
                    continue
                value = resolver.resolve_str(raw, f"{logical_id} Environment {name}")
                if name in merged and merged[name][1] != value:
                    raise TemplateError(
                        f"{name} is {merged[name][1]!r} in {merged[name][0]} but {value!r} in {logical_id}: the "
                        "local stack runs every function in one process, so functions must agree on a variable"
                    )
                merged[name] = (logical_id, value)
        environment = {name: value for name, (_, value) in merged.items()}
        environment.update(
            {
                **FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_EC2_METADATA_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "WEBHOOK_ALLOWED_PORTS": "*",
            }
        )
        qbo = self.emulators.get("qbo")
        if qbo is not None:
            discovery = getattr(qbo, "discovery_url", f"{qbo.url}/.well-known/openid_configuration")
            environment["QBO_ENVIRONMENT"] = str(discovery)
            environment["QBO_API_BASE_URL"] = str(getattr(qbo, "api_base_url", qbo.url))
        environment.update(self.environment_overrides)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", *environment):
            self._saved_environ.setdefault(name, os.environ.get(name))
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(environment)
        self.environment = environment
        self._store_secret_values(environment)
        _reset_process_caches()

    def _store_secret_values(self, environment: Mapping[str, str]) -> None:
        """The admin key and the QBO app credentials go where the handlers will read them."""
        sm = self.client("secretsmanager")
        by_name = {name: lid for lid, name in self.resources.secrets.items()}
        admin_secret = environment.get("ADMIN_API_KEY_SECRET")
        if admin_secret in by_name:
            sm.put_secret_value(SecretId=admin_secret, SecretString=self.admin_api_key)
        qbo = self.emulators.get("qbo")
        app_secret = environment.get("QBO_APP_SECRET")
        clients = getattr(getattr(qbo, "state", None), "clients", None) or {}
        if app_secret in by_name and clients:
            client_id, client_secret = next(iter(clients.items()))
            sm.put_secret_value(
                SecretId=app_secret, SecretString=json.dumps({"clientId": client_id, "clientSecret": client_secret})
            )

    def _create_schedule_rules(self) -> None:
        events = self.client("events")
        for schedule in self.template.schedules:
            name = f"{self.stack_name}-{schedule.function_id}-{schedule.event_name}"[:64]
            state = "ENABLED" if schedule.enabled else "DISABLED"
            rule = events.put_rule(Name=name, ScheduleExpression=schedule.expression, State=state)
            events.put_targets(
                Rule=name,
                Targets=[
                    {
                        "Id": schedule.function_id[:64],
                        "Arn": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:"
                        f"{self.resources.functions[schedule.function_id]}",
                    }
                ],
            )
            self.resources.rules[schedule_key(schedule)] = rule["RuleArn"]

    def _start_pollers(self) -> None:
        for source in self.template.sqs_sources:
            if not source.enabled:
                continue
            poller = SqsPoller(
                source,
                queue_url=self.resources.queues[source.queue_id],
                queue_arn=self.resources.queue_arns[source.queue_id],
                sqs=self.client("sqs"),
                invoke=self.invoke,
                region=self.region,
            )
            self.pollers.append(poller)
            if self.run_pollers:
                poller.start(self._stop)

    def _start_schedules(self) -> None:
        self._schedules = Schedules(
            self.template.schedules, self.resources.rules, self.invoke, self.region, speedup=self.schedule_speedup
        )
        if self.run_schedules:
            self._schedules.start(self._stop)

    def _queue_backlog(self) -> tuple[dict[str, int], dict[str, int]]:
        depths = self.queue_depths()
        sources = {s.queue_id for s in self.template.sqs_sources if s.enabled}
        pending = {
            q: d["visible"] + d["in_flight"]
            for q, d in depths.items()
            if q in sources and d["visible"] + d["in_flight"]
        }
        delayed = {q: d["delayed"] for q, d in depths.items() if d["delayed"]}
        return pending, delayed

    # ------------------------------------------------------------------ e-mails and admin routes
    def _echo_emails(self) -> None:
        """Print each e-mail once, as it is sent: read from moto's SES in this process, never through data.json."""
        printed = self._emails_from
        while not self._stop.wait(1.0):
            if self._outbox is None:
                return
            fresh, printed = self._outbox.since(printed)
            for message in fresh:
                text = (
                    f"\n--- e-mail from {message['source']} to {', '.join(message['to'])}\n"
                    f"    Subject: {message['subject']}\n    {str(message['body'])[:2000]}\n---"
                )
                print(redact_text(text), flush=True)

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """``/__devstack/...``: e-mails, run a schedule, drain the queues, queue depths, endpoints.

        The gateway serves these to loopback clients only: the endpoints show the admin key, e-mails may carry
        links, and drain or a schedule runs work on demand."""
        parts = path.strip("/").split("/")
        try:
            if method == "GET" and parts[1:] == ["emails"]:
                return 200, self.emails()
            if method == "POST" and len(parts) == 3 and parts[1] == "schedules":
                return 200, {"schedule": parts[2], "result": _jsonable(self.run_schedule(parts[2]))}
            if method == "POST" and len(parts) == 3 and parts[1] == "redrive":
                return 200, {"queue": parts[2], "moved": self.redrive(parts[2])}
            if method == "POST" and parts[1:] == ["drain"]:
                report = self.drain_queues()
                return 200, report.__dict__
            if method == "GET" and parts[1:] == ["queues"]:
                return 200, self.queue_depths()
            if method == "GET" and parts[1:] == ["endpoints"]:
                return 200, self.endpoints()
        except KeyError as error:
            return 404, {"message": str(error.args[0]) if error.args else str(error)}
        except Exception as error:  # the admin API answers with the reason
            return 500, {"message": f"{type(error).__name__}: {error}"}
        return 404, {"message": f"no devstack route {method} {path}; try GET /__devstack/endpoints"}


# ---------------------------------------------------------------------- resource creation
def _create_table(stack: LocalStack, lid: str, props: dict[str, Any]) -> None:
    ddb = stack.client("dynamodb")
    name = stack.resources.tables[lid]
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput", "StreamSpecification"):
        if key in props:
            args[key] = props[key]
    if "SSESpecification" in props:
        args["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled", False))}
    ddb.create_table(**args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if pitr.get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def _create_bucket(stack: LocalStack, lid: str, props: dict[str, Any]) -> None:
    s3 = stack.client("s3")
    name = stack.resources.buckets[lid]
    if stack.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": stack.region})
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "BucketEncryption" in props:
        rules = [
            {
                ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                for k, v in rule.items()
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})


def _create_bucket_policy(stack: LocalStack, lid: str, props: dict[str, Any]) -> None:
    """The template's bucket policy, less statements on aws:SecureTransport: the local stack speaks plain HTTP."""
    document = dict(props["PolicyDocument"])
    document["Statement"] = [s for s in document.get("Statement", []) if "aws:SecureTransport" not in json.dumps(s)]
    if document["Statement"]:
        stack.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _create_queue(stack: LocalStack, lid: str, props: dict[str, Any]) -> None:
    attributes = {k: _attribute(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    redrive = props.get("RedrivePolicy")
    if redrive:
        policy = json.loads(redrive) if isinstance(redrive, str) else redrive
        attributes["RedrivePolicy"] = json.dumps(policy)
        dlq = next(q for q, a in stack.resources.queue_arns.items() if a == policy["deadLetterTargetArn"])
        stack.resources.dead_letter_queues[lid] = dlq
    name = stack.resources.queue_arns[lid].rsplit(":", 1)[1]
    url = stack.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    stack.resources.queues[lid] = url


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _queues_in_dependency_order(resources: Mapping[str, dict[str, Any]]) -> list[str]:
    queues = {lid: res for lid, res in resources.items() if res.get("Type") == "AWS::SQS::Queue"}

    def target(lid: str) -> str | None:
        redrive = (queues[lid].get("Properties") or {}).get("RedrivePolicy") or {}
        arn = redrive.get("deadLetterTargetArn") if isinstance(redrive, dict) else None
        return str(arn["Fn::GetAtt"][0]) if isinstance(arn, dict) and "Fn::GetAtt" in arn else None

    ordered: list[str] = []

    def visit(lid: str, trail: tuple[str, ...]) -> None:
        if lid in ordered:
            return
        if lid in trail:
            raise TemplateError(f"queues redrive into each other: {' -> '.join((*trail, lid))}")
        dlq = target(lid)
        if dlq in queues:
            visit(dlq, (*trail, lid))
        ordered.append(lid)

    for lid in queues:
        visit(lid, ())
    return ordered


def _create_secret(stack: LocalStack, lid: str, props: dict[str, Any]) -> None:
    value = props.get("SecretString")
    if value is None and "GenerateSecretString" not in props:  # created empty, as CloudFormation does
        stack.client("secretsmanager").create_secret(
            Name=stack.resources.secrets[lid], Description=str(props.get("Description", ""))
        )
        return
    if value is None:
        generate = props.get("GenerateSecretString") or {}
        length = int(generate.get("PasswordLength", 32))
        value = secrets.token_urlsafe(length)[:length]
        if "SecretStringTemplate" in generate and "GenerateStringKey" in generate:
            document = json.loads(generate["SecretStringTemplate"])
            document[generate["GenerateStringKey"]] = value
            value = json.dumps(document)
    stack.client("secretsmanager").create_secret(
        Name=stack.resources.secrets[lid], SecretString=str(value), Description=str(props.get("Description", ""))
    )


def _create_email_identity(stack: LocalStack, lid: str, props: dict[str, Any]) -> None:
    identity = stack.resources.email_identities[lid]
    ses = stack.client("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)


_CREATORS: dict[str, Callable[[LocalStack, str, dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": _create_table,
    "AWS::S3::Bucket": _create_bucket,
    "AWS::S3::BucketPolicy": _create_bucket_policy,
    "AWS::SQS::Queue": _create_queue,
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::SES::EmailIdentity": _create_email_identity,
}


def _named(resolver: Resolver, props: Mapping[str, Any], key: str, default: str) -> str:
    return resolver.resolve_str(props[key], key) if key in props else default


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _reset_process_caches() -> None:
    """Forget settings, clients and cached secrets built for another environment (another stack)."""
    try:
        bootstrap = importlib.import_module("ledgersync.bootstrap")
    except ImportError:
        bootstrap = None
    reset = getattr(bootstrap, "reset", None)
    if callable(reset):
        reset()
    parameters_base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
    parameters_base.clear_caches()  # type: ignore[no-untyped-call]
