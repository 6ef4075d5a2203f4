"""Every AWS call each function's code can make is allowed by that function's policy in template.yaml, and nothing more.

moto checks no permission, so a missing grant only shows on AWS (and a spare one never shows). This test reads
the code instead: starting at ``functions/<fn>/app.py`` it follows what each handler can reach (module functions
by name, classes it builds, and the methods of those classes whose names the reached code calls, through the
lazy imports of ``ledgersync.bootstrap``), collects the boto3 client/resource operations and the Powertools
parameters helpers those reach, maps each to an IAM action and a resource ARN (from the function's environment
as the template sets it), and compares that with the function's ``Policies`` statements.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name
from devstack.stack import LocalStack
from devstack.template import Resolver, Template

from ledgersync.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "python"
REGION, ACCOUNT = "us-east-1", "123456789012"
SAMPLE_COMPANY = "sample-company"
SECRET_SUFFIX = "-AbCdEf"  # Secrets Manager appends six random characters to every secret's ARN
SERVICES = ("dynamodb", "sqs", "s3", "ses", "sesv2", "secretsmanager", "ssm", "events", "cloudwatch", "kms")
IAM_PREFIX = {"sesv2": "ses"}
# IAM actions whose names differ from the API operation (or that a boto3 helper stands for)
OPERATION_ACTIONS = {
    ("s3", "head_object"): ["s3:GetObject"],
    ("s3", "list_objects_v2"): ["s3:ListBucket"],
    ("dynamodb", "batch_writer"): ["dynamodb:BatchWriteItem"],
    # a transaction is authorized action by action (there is no dynamodb:TransactWriteItems)
    ("dynamodb", "transact_write_items"): [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ],
    ("dynamodb", "transact_get_items"): ["dynamodb:GetItem"],
}
POWERTOOLS_HELPERS = {
    "get_secret": ("secretsmanager", "secretsmanager:GetSecretValue"),
    "get_secrets_by_name": ("secretsmanager", "secretsmanager:GetSecretValue"),
    "get_parameter": ("ssm", "ssm:GetParameter"),
    "get_parameters": ("ssm", "ssm:GetParametersByPath"),
    "get_parameters_by_name": ("ssm", "ssm:GetParameters"),
}
SETTINGS_FIELDS = set(Settings.model_fields)


# ------------------------------------------------------------------------------------------ the code's side
@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case boto3 method -> API operation name, for one service."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


@dataclass
class Module:
    name: str
    tree: ast.Module
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local name -> (module, attribute)
    services: set[str] = field(default_factory=set)


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` except type annotations (they name classes without building them)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for name, value in ast.iter_fields(current):
            if name in {"annotation", "returns"}:
                continue
            children = value if isinstance(value, list) else [value]
            stack.extend(child for child in children if isinstance(child, ast.AST))


def _service_literal(call: ast.AST) -> str | None:
    """``client("sqs")``, ``aws_client("secretsmanager")``, ``session.client("s3", ...)``, ``dynamodb()``."""
    if not isinstance(call, ast.Call):
        return None
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    if name == "dynamodb" and not call.args:
        return "dynamodb"
    if name in {"client", "aws_client", "resource"} and call.args and isinstance(call.args[0], ast.Constant):
        value = call.args[0].value
        return value if isinstance(value, str) and value in SERVICES else None
    return None


class Codebase:
    """The ledgersync package and the handlers, parsed once."""

    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}
        for path in sorted((PACKAGE / "ledgersync").rglob("*.py")):
            parts = path.relative_to(PACKAGE).with_suffix("").parts
            self._add(".".join(parts[:-1] if parts[-1] == "__init__" else parts), path)
        for path in sorted((ROOT / "functions").glob("*/app.py")):
            self._add(f"functions.{path.parent.name}.app", path)

    def _add(self, name: str, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = Module(name, tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                module.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                module.classes[node.name] = node
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
            service = _service_literal(node)
            if service:
                module.services.add(service)
        self.modules[name] = module

    def resolve(self, module: Module, name: str) -> tuple[str, str | None] | None:
        """What a bare name of ``module`` refers to: (module, top-level name) or (module, None) for a module."""
        if name in module.functions or name in module.classes:
            return module.name, name
        if name in module.imports:
            target, attribute = module.imports[name]
            if attribute is None:
                return (target, None) if target in self.modules else None
            if f"{target}.{attribute}" in self.modules:
                return f"{target}.{attribute}", None
            if target in self.modules:
                return self._reexport(target, attribute)
        return None

    def _reexport(self, module_name: str, attribute: str) -> tuple[str, str | None] | None:
        module = self.modules[module_name]
        if attribute in module.functions or attribute in module.classes:
            return module_name, attribute
        if attribute in module.imports:
            return self.resolve(module, attribute)
        return module_name, attribute  # a module-level variable (e.g. a router)


Unit = tuple[str, str]  # (module, "function" | "Class.method" | "<module>" | "Class")


@dataclass(frozen=True)
class Call:
    """One AWS call the code can make: the IAM action and what it is made on (a hint the policy side resolves)."""

    action: str
    service: str
    unit: Unit
    node: ast.Call
    module: str


class Reach:
    """Rapid type analysis from one handler module: reached units, built classes, called attribute names."""

    def __init__(self, code: Codebase, entry: str) -> None:
        self.code = code
        self.units: set[Unit] = set()
        self.classes: set[tuple[str, str]] = set()
        self.attributes: set[str] = set()
        self.creators: dict[tuple[str, str], set[Unit]] = {}
        self._queue: list[Unit] = []
        self._add((entry, "<module>"))
        for name in code.modules[entry].functions:
            self._add((entry, name))
        self._run()

    def _add(self, unit: Unit) -> None:
        if unit not in self.units:
            self.units.add(unit)
            self._queue.append(unit)

    def node(self, unit: Unit) -> ast.AST:
        module = self.code.modules[unit[0]]
        if unit[1] == "<module>":
            return ast.Module(
                body=[n for n in module.tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)],
                type_ignores=[],
            )
        if "." in unit[1]:
            cls, method = unit[1].split(".", 1)
            return next(n for n in module.classes[cls].body if isinstance(n, ast.FunctionDef) and n.name == method)
        if unit[1] in module.classes:
            body = [n for n in module.classes[unit[1]].body if not isinstance(n, ast.FunctionDef)]
            return ast.Module(body=[*module.classes[unit[1]].bases, *body], type_ignores=[])  # type: ignore[list-item]
        return module.functions[unit[1]]

    def _run(self) -> None:
        while self._queue:
            while self._queue:
                unit = self._queue.pop()
                self._scan(unit)
            for module_name, cls in sorted(self.classes):
                for item in self.code.modules[module_name].classes[cls].body:
                    if isinstance(item, ast.FunctionDef) and (
                        item.name in self.attributes or (item.name.startswith("__") and item.name.endswith("__"))
                    ):
                        self._add((module_name, f"{cls}.{item.name}"))

    def _target(self, target: tuple[str, str | None] | None, unit: Unit) -> None:
        if target is None:
            return
        module_name, name = target
        self._add((module_name, "<module>"))
        if name is None:
            return
        module = self.code.modules[module_name]
        if name in module.functions:
            self._add((module_name, name))
        elif name in module.classes:
            if (module_name, name) not in self.classes:
                self.classes.add((module_name, name))
                self._add((module_name, name))
            self.creators.setdefault((module_name, name), set()).add(unit)
        else:  # a module variable such as a router: the functions it decorates are reached with it
            for fname, function in module.functions.items():
                if any(name in {n.id for n in ast.walk(d) if isinstance(n, ast.Name)} for d in function.decorator_list):
                    self._add((module_name, fname))

    def _scan(self, unit: Unit) -> None:
        module = self.code.modules[unit[0]]
        for node in _walk(self.node(unit)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self._target(self.code.resolve(module, node.id), unit)
            elif isinstance(node, ast.Attribute):
                self.attributes.add(node.attr)
                if isinstance(node.value, ast.Name):
                    base = self.code.resolve(module, node.value.id)
                    if base is not None and base[1] is None:
                        self._target(self.code._reexport(base[0], node.attr), unit)

    def calls(self) -> Iterator[Call]:
        """The AWS calls in the reached code, each with its IAM actions."""
        for unit in sorted(self.units):
            module = self.code.modules[unit[0]]
            for node in _walk(self.node(unit)):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                for service, action in self._actions(module, node):
                    yield Call(action, service, unit, node, module.name)

    def _actions(self, module: Module, call: ast.Call) -> list[tuple[str, str]]:
        assert isinstance(call.func, ast.Attribute)
        method = call.func.attr
        receiver = call.func.value
        if method in POWERTOOLS_HELPERS and isinstance(receiver, ast.Name):
            target = module.imports.get(receiver.id)
            if target and "aws_lambda_powertools.utilities" in ".".join(x for x in target if x):
                return [POWERTOOLS_HELPERS[method]]
        literal = _service_literal(receiver)
        services = [literal] if literal else sorted(module.services)
        if method in {"get_paginator", "generate_presigned_url"} and call.args:
            first = call.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                method = first.value
        found = []
        for service in services:
            if (service, method) in OPERATION_ACTIONS:
                found += [(service, a) for a in OPERATION_ACTIONS[(service, method)]]
            elif method in _operations(service):
                found.append((service, f"{IAM_PREFIX.get(service, service)}:{_operations(service)[method]}"))
        return found


# ------------------------------------------------------------------------------------------ the template's side
@dataclass(frozen=True)
class Grant:
    action: str  # may hold wildcards
    resource: str  # may hold wildcards


def _resolver(template: Template) -> tuple[Resolver, LocalStack]:
    stack = LocalStack(template.root / "template.yaml", stack_name="ledgersync-prod", region=REGION)
    return stack.plan(), stack


class Deployment:
    """template.yaml resolved as CloudFormation would for a stack named ledgersync-prod."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.resolver, self.stack = _resolver(template)
        self.queue_by_url = {url: lid for lid, url in self.stack.resources.queues.items()}

    def environment(self, function_id: str) -> dict[str, str]:
        spec = self.template.functions[function_id]
        resolved = {k: self.resolver.resolve(v) for k, v in spec.environment.items()}
        return {k: str(v) for k, v in resolved.items() if isinstance(v, str | int | float)}

    def grants(self, function_id: str) -> list[Grant]:
        grants = []
        for policy in self.template.functions[function_id].policies:
            if not isinstance(policy, dict) or set(policy) != {"Statement"}:
                raise AssertionError(
                    f"{function_id}: policy {policy!r} is not a list of statements; write the actions the code "
                    "calls as a Statement so this test can compare them"
                )
            for statement in self.resolver.resolve(policy["Statement"]):
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                grants += [Grant(a, r) for a in actions for r in resources]
        return grants

    def queue_arn(self, lid: str) -> str:
        return self.stack.resources.queue_arns[lid]

    def dead_letter_queue(self, lid: str) -> str | None:
        return self.stack.resources.dead_letter_queues.get(lid) or _redrive_target(self.template, lid)

    def universe(self, function_id: str) -> set[str]:
        """Every concrete ARN of this stack a grant could reach (the per-company secrets by a sample)."""
        env = self.environment(function_id)
        secrets = [env.get("ADMIN_API_KEY_SECRET", ""), env.get("QBO_APP_SECRET", "")]
        prefix = env.get("SECRETS_PREFIX", "")
        secrets += [f"{prefix}/{kind}/{SAMPLE_COMPANY}" for kind in ("qbo", "webhook")]
        out = {_secret_arn(s) for s in secrets if s}
        out |= set(self.stack.resources.queue_arns.values())
        for name in self.stack.resources.tables.values():
            out |= {_table_arn(name), f"{_table_arn(name)}/index/gsi1"}
        for bucket in self.stack.resources.buckets.values():
            out |= {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{SAMPLE_COMPANY}/purchase-orders/1/a.pdf"}
        return out


def _redrive_target(template: Template, lid: str) -> str | None:
    redrive = (template.resources[lid].get("Properties") or {}).get("RedrivePolicy") or {}
    target = redrive.get("deadLetterTargetArn")
    return str(target["Fn::GetAtt"][0]) if isinstance(target, dict) and "Fn::GetAtt" in target else None


def _secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}{SECRET_SUFFIX}"


def _table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _fields(nodes: Iterable[ast.AST]) -> set[str]:
    """Settings fields read in these nodes (``settings.sync_queue_url``, ``get_settings().table_name``)."""
    return {n.attr for node in nodes for n in _walk(node) if isinstance(n, ast.Attribute) and n.attr in SETTINGS_FIELDS}


def _name_pattern(text: ast.JoinedStr, prefix: str) -> str:
    """The secret name an f-string builds: ``{...prefix...}`` is the stack's prefix, any other value a company id."""
    parts = (
        str(v.value) if isinstance(v, ast.Constant) else ("{prefix}" if "prefix" in ast.unparse(v) else "{id}")
        for v in text.values
    )
    return "".join(parts).replace("{prefix}", prefix).replace("{id}", SAMPLE_COMPANY)


def _secret_name_patterns(cls: ast.ClassDef, prefix: str, classes: dict[str, ast.ClassDef]) -> list[str]:
    """The names a class's ``secret_name`` method builds (``f"{self.prefix}/qbo/{company_id}"``), its own or the
    one it inherits from a base class of the same module."""
    out = []
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            out += _secret_name_patterns(classes[base.id], prefix, classes)
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "secret_name":
            out += [_name_pattern(node, prefix) for node in ast.walk(item) if isinstance(node, ast.JoinedStr)]
    return out


def _entry_methods(cls: ast.ClassDef, method: str) -> set[str]:
    """The methods of ``cls`` that run ``method``: itself and those that reach it through ``self.<m>(...)``."""
    calls = {
        item.name: {
            n.func.attr
            for n in ast.walk(item)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == "self"
        }
        for item in cls.body
        if isinstance(item, ast.FunctionDef)
    }
    entries, grown = {method}, True
    while grown:
        more = {name for name, callees in calls.items() if callees & entries} - entries
        entries |= more
        grown = bool(more)
    return entries


class Requirements:
    """(IAM action, concrete ARN) pairs one function's code needs."""

    def __init__(self, code: Codebase, deployment: Deployment, function_id: str) -> None:
        self.code = code
        self.deployment = deployment
        self.function_id = function_id
        spec = deployment.template.functions[function_id]
        self.reach = Reach(code, f"functions.{spec.code_uri.name}.app")
        self.env = deployment.environment(function_id)
        aliases = {name: str(f.alias) for name, f in Settings.model_fields.items()}
        self.values = {name: self.env.get(alias, "") for name, alias in aliases.items()}
        self.pairs: set[tuple[str, str]] = set()
        self.where: dict[tuple[str, str], str] = {}
        for call in self.reach.calls():
            for resource in self._resources(call):
                pair = (call.action, resource)
                self.pairs.add(pair)
                self.where.setdefault(pair, f"{call.module}:{call.unit[1]} line {call.node.lineno}")

    def _context(self, call: Call) -> list[ast.AST]:
        """The code whose settings tell what a call is made on: its class (and who builds it) or its function."""
        module = self.code.modules[call.unit[0]]
        cls = call.unit[1].split(".", 1)[0]
        if cls in module.classes:
            units = [u for u in self.reach.units if u[0] == module.name and u[1].split(".", 1)[0] == cls]
            units += sorted(self.reach.creators.get((module.name, cls), set()))
            return [self.reach.node(u) for u in units]
        return [self.reach.node(call.unit)]

    def _resources(self, call: Call) -> list[str]:
        context = self._context(call)
        if call.service == "dynamodb":
            table = self.values["table_name"]
            return (
                [_table_arn(table), f"{_table_arn(table)}/index/gsi1"]
                if call.action.endswith(":Query")
                else [_table_arn(table)]
            )
        if call.service == "s3":
            return [f"arn:aws:s3:::{self.values['documents_bucket']}/{SAMPLE_COMPANY}/purchase-orders/1/a.pdf"]
        if call.service in {"ses", "sesv2"}:
            return [f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{self.values['notification_sender']}"]
        if call.service == "sqs":
            return self._queues(call, context)
        if call.service == "secretsmanager":
            if call.action == "secretsmanager:ListSecrets":
                return ["*"]
            fields = self._argument_fields(call)
            if not fields and call.node.args:  # a secret name the class was built with (``self.secret_name``)
                fields = self._bound_fields(call, ast.unparse(call.node.args[0])) or set()
            named = [self.values[f] for f in fields if f.endswith("_secret")]
            if named:
                return [_secret_arn(n) for n in named]
            module = self.code.modules[call.unit[0]]
            cls = call.unit[1].split(".", 1)[0]
            composed = self._composed_secret_names(call)
            if composed is not None:
                return composed
            if cls in module.classes:
                return [
                    _secret_arn(n)
                    for n in _secret_name_patterns(module.classes[cls], self.values["secrets_prefix"], module.classes)
                ]
            raise AssertionError(
                f"{call.module}:{call.unit[1]}: cannot tell which secret line {call.node.lineno} reads"
            )
        raise AssertionError(f"{call.module}:{call.unit[1]}: no resource rule for {call.action}")

    def _composed_secret_names(self, call: Call) -> list[str] | None:
        """The secrets a shared store's call reaches when typed stores compose it (``SecretsManagerJsonStore``).

        A typed store builds the shared one with its own prefix (``SecretsManagerJsonStore(f"{prefix}/qbo", ...)``
        into ``self.<attribute>``); the call counts for that prefix only when a reached method of the typed store
        (or of a reached subclass) calls the shared store's method that runs it, so a read-only store needs no write.
        None when the call's class is not built that way.
        """
        module = self.code.modules[call.unit[0]]
        cls, method = call.unit[1].split(".", 1) if "." in call.unit[1] else (call.unit[1], "")
        if cls not in module.classes:
            return None
        entries = _entry_methods(module.classes[cls], method)
        names: list[str] = []
        composed = False
        for creator in sorted(self.reach.creators.get((module.name, cls), set())):
            for node in _walk(self.reach.node(creator)):
                if not (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name)
                    and node.value.func.id == cls
                    and node.value.args
                    and isinstance(node.value.args[0], ast.JoinedStr)
                ):
                    continue
                target = node.targets[0]
                if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
                    continue
                composed = True
                if self._calls_through(creator, target.attr, entries):
                    prefix = _name_pattern(node.value.args[0], self.values["secrets_prefix"])
                    names.append(_secret_arn(f"{prefix}/{SAMPLE_COMPANY}"))
        return sorted(set(names)) if composed else None

    def _calls_through(self, creator: Unit, attribute: str, methods: set[str]) -> bool:
        """A reached method of the creator's class, or of a reached subclass, calls ``self.<attribute>.<method>``."""
        module = self.code.modules[creator[0]]
        owner = creator[1].split(".", 1)[0]
        family = {owner} | {
            name
            for (mod, name) in self.reach.classes
            if mod == module.name and any(isinstance(b, ast.Name) and b.id == owner for b in module.classes[name].bases)
        }
        for unit in self.reach.units:
            if unit[0] != module.name or unit[1].split(".", 1)[0] not in family or "." not in unit[1]:
                continue
            for node in _walk(self.reach.node(unit)):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in methods
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == attribute
                    and isinstance(node.func.value.value, ast.Name)
                    and node.func.value.value.id == "self"
                ):
                    return True
        return False

    def _argument_fields(self, call: Call) -> set[str]:
        """Settings fields in a call's arguments, following local names to their assignment in the same unit."""
        names = {n.id for n in _walk(call.node) if isinstance(n, ast.Name)}
        assigned = [
            node.value
            for node in _walk(self.reach.node(call.unit))
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets)
        ]
        return _fields([call.node, *assigned])

    def _bound_fields(self, call: Call, text: str) -> set[str] | None:
        """The settings fields the creators pass for ``self.<name>`` when a call's queue URL or secret name is a
        constructor argument the class keeps as is (``self.queue_url = queue_url``): the composition root builds a
        class in a unit that may name more queues than this call is made on. None when any creator does not bind it
        plainly (then the whole context counts, as before)."""
        match = re.fullmatch(r"self\.(\w+)", text)
        module = self.code.modules[call.unit[0]]
        cls = call.unit[1].split(".", 1)[0]
        if match is None or cls not in module.classes:
            return None
        name = match.group(1)
        body = module.classes[cls].body
        init = next((n for n in body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None or not any(
            isinstance(n, ast.Assign)
            and ast.unparse(n.targets[0]) == f"self.{name}"
            and isinstance(n.value, ast.Name)
            and n.value.id == name
            for n in ast.walk(init)
        ):
            return None
        params = [a.arg for a in init.args.args[1:]]
        fields: set[str] = set()
        for creator in sorted(self.reach.creators.get((module.name, cls), set())):
            builds = [
                n
                for n in _walk(self.reach.node(creator))
                if isinstance(n, ast.Call)
                and (getattr(n.func, "id", None) == cls or getattr(n.func, "attr", None) == cls)
            ]
            for build in builds:
                given = dict(zip(params, build.args, strict=False)) | {k.arg: k.value for k in build.keywords if k.arg}
                if name not in given:
                    return None
                fields |= _fields([given[name]])
            if not builds:
                return None
        return fields

    def _queues(self, call: Call, context: list[ast.AST]) -> list[str]:
        argument = next((k.value for k in call.node.keywords if k.arg in {"QueueUrl", "QueueName"}), None)
        text = ast.unparse(argument) if argument is not None else ""
        bound = self._bound_fields(call, text)
        fields = bound if bound is not None else _fields(context)
        urls = {self.values[f] for f in fields if f.endswith("_queue_url") and self.values[f]}
        queues = sorted(self.deployment.queue_by_url[u] for u in urls if u in self.deployment.queue_by_url)
        dead_letter = "dead_letter" in text or (not text.startswith("self.queue") and "dead_letter" in call.unit[1])
        if dead_letter:
            queues = sorted({d for q in queues if (d := self.deployment.dead_letter_queue(q))})
        return [self.deployment.queue_arn(q) for q in queues]


def allowed(grants: Iterable[Grant], action: str, resource: str) -> bool:
    return any(
        fnmatchcase(action.lower(), g.action.lower()) and (g.resource == "*" or fnmatchcase(resource, g.resource))
        for g in grants
    )


def problems(requirements: Requirements, grants: list[Grant], universe: set[str]) -> list[str]:
    """What the code calls that the policy does not allow, and what the policy allows that the code never calls."""
    out = [
        f"missing {action} on {resource} (called at {requirements.where[(action, resource)]})"
        for action, resource in sorted(requirements.pairs)
        if not allowed(grants, action, resource)
    ]
    needed_actions = {a for a, _ in requirements.pairs}
    for grant in grants:
        if not any(fnmatchcase(a.lower(), grant.action.lower()) for a in needed_actions):
            out.append(f"unused {grant.action} on {grant.resource}: the code never calls it")
            continue
        for resource in sorted(universe):
            if grant.resource == "*" and resource.split(":")[2] != grant.action.split(":")[0]:
                continue
            if (grant.resource == "*" or fnmatchcase(resource, grant.resource)) and not any(
                fnmatchcase(a.lower(), grant.action.lower()) and r in {resource, "*"} for a, r in requirements.pairs
            ):
                out.append(
                    f"too broad: {grant.action} on {grant.resource} reaches {resource}, which the code never needs"
                )
    return sorted(set(out))


# ------------------------------------------------------------------------------------------ the tests
CODE = Codebase()
TEMPLATE = Template.load()
DEPLOYMENT = Deployment(TEMPLATE)


@pytest.mark.parametrize("function_id", sorted(TEMPLATE.functions))
def test_each_function_may_call_exactly_what_its_code_calls_when_the_policy_is_compared(function_id: str) -> None:
    # Given what the function's code can call and what its role allows
    requirements = Requirements(CODE, DEPLOYMENT, function_id)
    grants = DEPLOYMENT.grants(function_id)

    # Then nothing is missing and nothing is spare
    assert problems(requirements, grants, DEPLOYMENT.universe(function_id)) == []


def test_the_check_sees_the_calls_that_broke_the_first_deploy_when_the_code_is_read() -> None:
    # When the two functions whose grants were missing are read
    token_refresh = Requirements(CODE, DEPLOYMENT, "TokenRefreshFunction").pairs
    scheduler = Requirements(CODE, DEPLOYMENT, "SchedulerFunction").pairs

    # Then the check knows the webhook queue the scheduler's dispatcher sends to, and the secrets the refresher uses
    assert ("sqs:SendMessage", DEPLOYMENT.queue_arn("WebhookQueue")) in scheduler
    assert ("secretsmanager:PutSecretValue", _secret_arn(f"ledgersync/ledgersync-prod/qbo/{SAMPLE_COMPANY}")) in (
        token_refresh
    )
    assert not any(
        r.endswith(f"admin-api-key{SECRET_SUFFIX}") and a != "secretsmanager:GetSecretValue"
        for a, r in (token_refresh | scheduler)
    )


def test_a_read_only_typed_store_needs_no_write_when_it_composes_the_shared_secret_store() -> None:
    # Given the sweep, which reads the webhook endpoints, and the set-up routes, which also write them, both through
    # the one SecretsManagerJsonStore
    webhook = _secret_arn(f"ledgersync/ledgersync-prod/webhook/{SAMPLE_COMPANY}")
    tokens = _secret_arn(f"ledgersync/ledgersync-prod/qbo/{SAMPLE_COMPANY}")

    # When their calls are read
    scheduler = Requirements(CODE, DEPLOYMENT, "SchedulerFunction").pairs
    management = Requirements(CODE, DEPLOYMENT, "ManagementApiFunction").pairs

    # Then each call is charged to the typed store's own prefix, writes only where a write is made
    assert ("secretsmanager:GetSecretValue", webhook) in scheduler
    assert not {("secretsmanager:PutSecretValue", webhook), ("secretsmanager:CreateSecret", webhook)} & scheduler
    assert not any(r == tokens for _, r in scheduler)
    for action in ("GetSecretValue", "PutSecretValue", "CreateSecret"):
        assert (f"secretsmanager:{action}", webhook) in management
        assert (f"secretsmanager:{action}", tokens) in management
    assert not any(r.endswith(f"ledgersync-prod/{SAMPLE_COMPANY}{SECRET_SUFFIX}") for _, r in scheduler | management)


def _statements(function_id: str) -> list[tuple[int, int]]:
    """(policy index, statement index) of each statement of a function, to remove one at a time."""
    return [
        (p, s)
        for p, policy in enumerate(TEMPLATE.functions[function_id].policies)
        for s, _ in enumerate(policy.get("Statement", []) if isinstance(policy, dict) else [])
    ]


@pytest.mark.parametrize(
    ("function_id", "policy", "statement"),
    [(fid, p, s) for fid in sorted(TEMPLATE.functions) for p, s in _statements(fid)],
)
def test_a_removed_statement_is_reported_missing_when_the_policy_is_compared(
    function_id: str, policy: int, statement: int
) -> None:
    # Given the template with one statement of one function removed
    template = Template(copy.deepcopy(TEMPLATE.document), TEMPLATE.root)
    props = template.resources[function_id]["Properties"]
    removed = props["Policies"][policy]["Statement"].pop(statement)
    template = Template(template.document, TEMPLATE.root)
    deployment = Deployment(template)

    # When
    found = problems(
        Requirements(CODE, deployment, function_id), deployment.grants(function_id), deployment.universe(function_id)
    )

    # Then the statement's actions are reported missing
    actions = removed["Action"] if isinstance(removed["Action"], list) else [removed["Action"]]
    for action in actions:
        assert any(p.startswith(f"missing {action} ") for p in found), (removed.get("Sid"), found)


def test_a_grant_on_every_stack_secret_is_too_broad_when_a_function_writes_only_its_own() -> None:
    # Given the token store's write granted on the whole stack prefix (the admin key included)
    requirements = Requirements(CODE, DEPLOYMENT, "AccountingSyncFunction")
    broad = Grant(
        "secretsmanager:PutSecretValue",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ledgersync/ledgersync-prod/*",
    )

    # When
    found = problems(
        requirements,
        [*DEPLOYMENT.grants("AccountingSyncFunction"), broad],
        DEPLOYMENT.universe("AccountingSyncFunction"),
    )

    # Then
    assert any("reaches" in p and "admin-api-key" in p for p in found), found


def test_an_exact_secret_name_does_not_match_the_arn_with_its_suffix_when_checked() -> None:
    # Secrets Manager appends a hyphen and six random characters to every secret's ARN: a grant on the bare name
    # allows nothing
    name = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ledgersync/ledgersync-prod/admin-api-key"

    assert not allowed(
        [Grant("secretsmanager:GetSecretValue", name)],
        "secretsmanager:GetSecretValue",
        _secret_arn("ledgersync/ledgersync-prod/admin-api-key"),
    )
    assert allowed(
        [Grant("secretsmanager:GetSecretValue", f"{name}-??????")],
        "secretsmanager:GetSecretValue",
        (_secret_arn("ledgersync/ledgersync-prod/admin-api-key")),
    )


def test_powertools_helpers_count_as_calls_when_the_code_is_read() -> None:
    management = Requirements(CODE, DEPLOYMENT, "ManagementApiFunction").pairs

    assert ("secretsmanager:GetSecretValue", _secret_arn("ledgersync/ledgersync-prod/admin-api-key")) in management
    assert ("secretsmanager:GetSecretValue", _secret_arn("ledgersync/ledgersync-prod/quickbooks-online-app")) in (
        management
    )
    # the token refresh lists companies from the table's company index, never from Secrets Manager
    refresh = Requirements(CODE, DEPLOYMENT, "TokenRefreshFunction").pairs
    assert not re.search("ListSecrets", " ".join(a for a, _ in refresh))
    table = DEPLOYMENT.environment("TokenRefreshFunction")["TABLE_NAME"]
    assert ("dynamodb:Query", f"{_table_arn(table)}/index/gsi1") in refresh
