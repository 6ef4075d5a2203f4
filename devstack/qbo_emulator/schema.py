"""Check incoming JSON entities against Intuit's v3 XSDs, the way QuickBooks Online refuses malformed ones.

The JSON API uses the XSD element names as keys, a reference's ``value`` as the element text and its other
keys as attributes, and ignores element order; XML Schema does not. So each entity is rebuilt as an XML
element with its children in the order the schema's sequence declares, then validated with ``xmlschema``.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import xmlschema

NAMESPACE = "http://schema.intuit.com/finance/v3"
ROOT_XSD = "IntuitRestServiceDef.xsd"


class SchemaViolation(Exception):
    """The entity does not conform to Intuit's schema; ``unsupported`` when it names an unknown property."""

    def __init__(self, message: str, unsupported: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unsupported = unsupported


class EntityValidator:
    """Validates entities against the XSDs in one directory; the schema loads once, on first use."""

    def __init__(self, xsd_dir: str | Path) -> None:
        self.xsd_dir = Path(xsd_dir)
        if not (self.xsd_dir / ROOT_XSD).is_file():
            raise FileNotFoundError(f"{self.xsd_dir / ROOT_XSD} not found (QBO_XSD_DIR)")
        self._lock = threading.Lock()

    @property
    def schema(self) -> Any:
        with self._lock:
            return _load_schema(str(self.xsd_dir.resolve()))

    def check(self, entity: str, body: dict[str, Any]) -> None:
        """Raise SchemaViolation when ``body`` is not a valid ``entity`` (e.g. ``Bill``)."""
        schema = self.schema
        declaration = schema.elements.get(entity)
        if declaration is None:
            raise SchemaViolation(f"Unsupported entity {entity}", unsupported=True)
        element = _element(declaration, body, entity)
        for error in schema.iter_errors(element):
            reason = getattr(error, "reason", None) or str(error)
            where = getattr(error, "path", None) or entity
            raise SchemaViolation(f"{reason} (at {_plain_path(str(where))})")


@lru_cache(maxsize=4)
def _load_schema(xsd_dir: str) -> Any:
    return xmlschema.XMLSchema(str(Path(xsd_dir) / ROOT_XSD))


def _plain_path(path: str) -> str:
    return path.replace("{" + NAMESPACE + "}", "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def _element(declaration: Any, value: Any, path: str) -> Element:
    element = Element(f"{{{NAMESPACE}}}{declaration.local_name}")
    _fill(element, declaration.type, value, path)
    return element


def _fill(element: Element, xsd_type: Any, value: Any, path: str) -> None:
    simple = xsd_type.is_simple() or xsd_type.has_simple_content()
    attributes = {} if xsd_type.is_simple() else {_local(k): k for k in xsd_type.attributes if k}
    if simple:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "value":
                    element.text = _text(item)
                elif key in attributes:
                    element.set(key, _text(item))
                else:
                    raise SchemaViolation(
                        f"Property Name:{key} specified is unsupported or invalid (at {path})", unsupported=True
                    )
        elif isinstance(value, list):
            raise SchemaViolation(f"Property {path} must be a single value, not a list")
        elif value is not None:
            element.text = _text(value)
        return
    if not isinstance(value, dict):
        raise SchemaViolation(f"Property {path} must be an object")
    children = {e.local_name: e for e in xsd_type.content.iter_elements()} if xsd_type.content else {}
    unknown = [key for key in value if key not in children and key not in attributes]
    if unknown:
        raise SchemaViolation(
            f"Property Name:{unknown[0]} specified is unsupported or invalid (at {path})", unsupported=True
        )
    for key in attributes:
        if key in value and value[key] is not None:
            element.set(key, _text(value[key]))
    for name, child in children.items():  # the schema's order, whatever the JSON order was
        if name not in value or value[name] is None:
            continue
        items = value[name] if isinstance(value[name], list) else [value[name]]
        for index, item in enumerate(items):
            element.append(_element(child, item, f"{path}.{name}[{index}]" if len(items) > 1 else f"{path}.{name}"))


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]
