"""template.yaml read as the local stack sees it: resources, functions, their events and intrinsic functions.

The YAML carries CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``...); the loader turns each into
its long form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``) so the rest works on plain data.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
NO_VALUE = object()


class TemplateError(Exception):
    """template.yaml holds something the local stack cannot run; the message says what and where."""


class _CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that understands CloudFormation's short-form intrinsic tags."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has only these three node kinds
        raise TemplateError(f"unexpected YAML node for !{suffix}")
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The template as plain data, short tags in their long form (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``...)."""
    text = (path or DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader derives from SafeLoader
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path or DEFAULT_TEMPLATE} has no Resources section")
    return document


@dataclass(frozen=True)
class ApiRoute:
    """One ``Type: Api`` event: a method and a path template such as ``/v1/invoices/{id}``."""

    function_id: str
    event_name: str
    method: str
    path: str


@dataclass(frozen=True)
class GatewayResponse:
    """One of the API's ``GatewayResponses``: its status (None keeps API Gateway's), static headers (the quotes of
    ``"'value'"`` removed) and its ``application/json`` body template."""

    status: int | None
    headers: dict[str, str]
    template: str


@dataclass(frozen=True)
class SqsSource:
    """One ``Type: SQS`` event: the queue a function consumes and how batches are built."""

    function_id: str
    event_name: str
    queue_id: str
    batch_size: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool


@dataclass(frozen=True)
class ScheduleSource:
    """One ``Type: Schedule`` event: a rate or cron expression and an optional fixed input."""

    function_id: str
    event_name: str
    expression: str
    input: str | None
    enabled: bool


@dataclass(frozen=True)
class FunctionSpec:
    """An ``AWS::Serverless::Function`` with Globals applied."""

    logical_id: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory_mb: int
    environment: dict[str, Any]
    layers: list[Any]
    policies: list[Any]
    routes: list[ApiRoute] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)

    @property
    def module_path(self) -> Path:
        """The file that holds the handler (``app.lambda_handler`` -> ``<CodeUri>/app.py``)."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


class Template:
    """template.yaml parsed: resources by type, functions with their events, the API's settings."""

    def __init__(self, document: dict[str, Any], root: Path) -> None:
        self.document = document
        self.root = root
        self.resources: dict[str, dict[str, Any]] = document["Resources"]
        self.parameters: dict[str, dict[str, Any]] = document.get("Parameters", {}) or {}
        self.conditions: dict[str, Any] = document.get("Conditions", {}) or {}
        self.functions = {
            lid: self._function(lid, res)
            for lid, res in self.resources.items()
            if res.get("Type") == "AWS::Serverless::Function"
        }

    @classmethod
    def load(cls, path: Path | None = None) -> Template:
        """Read and parse a template; code paths are relative to the template's folder."""
        path = (path or DEFAULT_TEMPLATE).resolve()
        return cls(load_template(path), path.parent)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for every resource of ``resource_type``."""
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == resource_type}

    @property
    def routes(self) -> list[ApiRoute]:
        return [route for spec in self.functions.values() for route in spec.routes]

    @property
    def sqs_sources(self) -> list[SqsSource]:
        return [source for spec in self.functions.values() for source in spec.sqs_sources]

    @property
    def schedules(self) -> list[ScheduleSource]:
        return [schedule for spec in self.functions.values() for schedule in spec.schedules]

    def api_properties(self) -> dict[str, Any]:
        """The one ``AWS::Serverless::Api`` (merged with Globals.Api), or empty if the template has none."""
        apis = self.of_type("AWS::Serverless::Api")
        props = dict(self.document.get("Globals", {}).get("Api", {}) or {})
        if apis:
            props.update(next(iter(apis.values())).get("Properties", {}) or {})
        return props

    def gateway_responses(self) -> dict[str, GatewayResponse]:
        """The API's ``GatewayResponses`` (API Gateway's own answers: unknown routes, too large, throttled...)."""
        found: dict[str, GatewayResponse] = {}
        for kind, spec in (self.api_properties().get("GatewayResponses") or {}).items():
            headers = ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items()
            found[str(kind)] = GatewayResponse(
                status=int(spec["StatusCode"]) if spec.get("StatusCode") is not None else None,
                headers={str(k): str(v).strip("'") for k, v in headers},
                template=str((spec.get("ResponseTemplates") or {}).get("application/json", "")),
            )
        return found

    def binary_media_types(self) -> list[str]:
        """The API's binary media types, ``~1`` unescaped to ``/`` as API Gateway does."""
        return [str(t).replace("~1", "/") for t in self.api_properties().get("BinaryMediaTypes", []) or []]

    def _function(self, logical_id: str, resource: dict[str, Any]) -> FunctionSpec:
        defaults = dict(self.document.get("Globals", {}).get("Function", {}) or {})
        props = {**defaults, **(resource.get("Properties", {}) or {})}
        environment = dict((defaults.get("Environment") or {}).get("Variables") or {})
        environment.update(((resource.get("Properties", {}) or {}).get("Environment") or {}).get("Variables") or {})
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local folder (got {code_uri!r})")
        handler = props.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like module.function (got {handler!r})")
        spec = FunctionSpec(
            logical_id=logical_id,
            code_uri=(self.root / code_uri).resolve(),
            handler=handler,
            runtime=str(props.get("Runtime", "")),
            timeout=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment=environment,
            layers=list(props.get("Layers", []) or []),
            policies=list(props.get("Policies", []) or []),
        )
        for name, event in (props.get("Events") or {}).items():
            self._add_event(spec, name, event)
        return spec

    def _add_event(self, spec: FunctionSpec, name: str, event: dict[str, Any]) -> None:
        kind = event.get("Type")
        props = event.get("Properties", {}) or {}
        if kind == "Api":
            spec.routes.append(ApiRoute(spec.logical_id, name, str(props["Method"]).upper(), str(props["Path"])))
        elif kind == "SQS":
            queue = props.get("Queue")
            queue_id = _referenced_resource(queue)
            if queue_id is None:
                raise TemplateError(f"{spec.logical_id}.{name}: Queue must be !GetAtt <Queue>.Arn (got {queue!r})")
            scaling = props.get("ScalingConfig") or {}
            spec.sqs_sources.append(
                SqsSource(
                    spec.logical_id,
                    name,
                    queue_id,
                    int(props.get("BatchSize", 10)),
                    "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                    int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
                    bool(props.get("Enabled", True)),
                )
            )
        elif kind in {"Schedule", "ScheduleV2"}:
            expression = props.get("Schedule") or props.get("ScheduleExpression")
            enabled = props.get("Enabled", True) and props.get("State", "ENABLED") != "DISABLED"
            raw_input = props.get("Input")
            spec.schedules.append(
                ScheduleSource(
                    spec.logical_id,
                    name,
                    str(expression),
                    raw_input if isinstance(raw_input, str) else None,
                    bool(enabled),
                )
            )


def _referenced_resource(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Ref" in value:
            return str(value["Ref"])
    return None


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class Resolver:
    """Evaluates intrinsic functions against the physical values the local stack chose.

    ``refs`` maps a logical id or parameter to what ``Ref`` returns; ``attributes`` maps
    ``(logical id, attribute)`` to what ``Fn::GetAtt`` returns.
    """

    def __init__(self, template: Template, refs: Mapping[str, str], attributes: Mapping[tuple[str, str], str]) -> None:
        self.template = template
        self.refs = refs
        self.attributes = attributes
        self._functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Condition": self._condition,
            "Fn::Base64": self._base64,
            "Fn::FindInMap": self._find_in_map,
            "Fn::ToJsonString": self._to_json,
        }

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function evaluated (``AWS::NoValue`` entries removed)."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key in self._functions:
                    return self._functions[key](argument)
                if key.startswith("Fn::"):
                    raise TemplateError(f"the local stack does not evaluate {key}")
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        return value

    def resolve_str(self, value: Any, where: str) -> str:
        """A resolved scalar as the string Lambda would see in its environment."""
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, (str, int, float)):
            return str(resolved)
        raise TemplateError(f"{where} does not resolve to a string: {resolved!r}")

    def condition(self, name: str) -> bool:
        """The value of a named condition from the Conditions section."""
        if name not in self.template.conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(self.template.conditions[name]))

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self.refs:
            raise TemplateError(f"!Ref {name}: no such parameter, pseudo parameter or resource")
        return self.refs[name]

    def _get_att(self, argument: Any) -> Any:
        resource, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        key = (str(resource), str(self.resolve(attribute)))
        if key not in self.attributes:
            raise TemplateError(f"!GetAtt {key[0]}.{key[1]}: the local stack has no such attribute")
        return self.attributes[key]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._get_att(name))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, str(text)).replace("${!", "${")

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(i) for i in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(str(delimiter))

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = argument
        return bool(self.resolve(left) == self.resolve(right))

    def _not(self, argument: Any) -> bool:
        return not bool(self.resolve(argument[0]))

    def _and(self, argument: Any) -> bool:
        return all(bool(self.resolve(a)) for a in argument)

    def _or(self, argument: Any) -> bool:
        return any(bool(self.resolve(a)) for a in argument)

    def _condition(self, name: Any) -> bool:
        return self.condition(str(name))

    def _base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _find_in_map(self, argument: Any) -> Any:
        name, top, second = (self.resolve(a) for a in argument)
        return self.template.document["Mappings"][name][top][second]

    def _to_json(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument))
