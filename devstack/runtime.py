"""Runs a template's functions in this process, the way the Lambda Python runtime would.

Each handler module is imported from its file under a unique module name (two functions may both have
an ``app.py``), with the function's folder first on ``sys.path`` while it imports, as Lambda's task root is.

A function is one execution environment: like Lambda's, it serves one invocation at a time. A request that
arrives while another runs waits its turn (up to the function's timeout), so module state and Powertools'
per-request state of a handler are never shared by two requests at once.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack.template import FunctionSpec

ACCOUNT_ID = "123456789012"


class FunctionCodeMissingError(Exception):
    """The function's handler file does not exist (yet)."""


class FunctionBusyError(Exception):
    """The execution environment stayed busy for longer than the function's timeout."""


class FunctionFailedError(Exception):
    """The handler raised: Lambda reports this as a function error."""

    def __init__(self, function_id: str, error: BaseException) -> None:
        super().__init__(f"{function_id} raised {type(error).__name__}: {error}")
        self.function_id = function_id
        self.error = error
        self.trace = "".join(traceback.format_exception(error))


@dataclass
class LambdaContext:
    """The context object Lambda passes a handler (the attributes Powertools reads)."""

    function_name: str = "local"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: int = 30
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's timeout."""
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class ExecutionEnvironment:
    """Where invocations run one at a time, as in one Lambda execution environment.

    Each function has its own, except the API functions of one local stack, which share one: Powertools keeps the
    resolver's current event and Lambda context on a class (``BaseRouter.current_event``), so two API functions
    running at once in this one process would route and read each other's requests. On Lambda every environment is
    its own process and the question does not arise."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running_on: int | None = None


class LocalFunction:
    """One function of the template, imported on first use and invoked in this process."""

    def __init__(
        self,
        spec: FunctionSpec,
        physical_name: str,
        region: str,
        observer: Callable[[str, float, BaseException | None], None] | None = None,
        environment: ExecutionEnvironment | None = None,
    ) -> None:
        self.spec = spec
        self.physical_name = physical_name
        self.region = region
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{physical_name}"
        self._handler: Callable[[Any, Any], Any] | None = None
        self._module: ModuleType | None = None
        self._lock = threading.Lock()
        self._environment = environment or ExecutionEnvironment()
        self._observer = observer
        self.invocations = 0
        self.errors = 0

    @property
    def module(self) -> ModuleType:
        """The imported handler module (imported now if it was not yet)."""
        self._load()
        assert self._module is not None
        return self._module

    def invoke(self, event: Any) -> Any:
        """Call the handler with ``event`` and a fresh context, once the environment is free; a raised error
        becomes FunctionFailedError."""
        handler = self._load()
        environment = self._environment
        if environment.running_on == threading.get_ident():
            raise FunctionFailedError(
                self.spec.logical_id,
                FunctionBusyError(
                    f"{self.spec.logical_id} was invoked from a handler running in its own execution environment; "
                    "that would wait forever"
                ),
            )
        if not environment.lock.acquire(timeout=self.spec.timeout):
            # A handler that synchronously calls its own function through the gateway lands here, not in a hang.
            raise FunctionFailedError(
                self.spec.logical_id,
                FunctionBusyError(
                    f"{self.spec.logical_id} stayed busy with another invocation for more than its timeout "
                    f"({self.spec.timeout} s); does a handler call its own function synchronously?"
                ),
            )
        environment.running_on = threading.get_ident()
        try:
            return self._run(handler, event)
        finally:
            environment.running_on = None
            environment.lock.release()

    def _run(self, handler: Callable[[Any, Any], Any], event: Any) -> Any:
        context = LambdaContext(
            function_name=self.physical_name,
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=self.spec.timeout,
            log_group_name=f"/aws/lambda/{self.physical_name}",
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        )
        started = time.monotonic()
        self.invocations += 1
        try:
            result = handler(event, context)
        except Exception as error:
            self.errors += 1
            self._observe(started, error)
            raise FunctionFailedError(self.spec.logical_id, error) from error
        self._observe(started, None)
        return result

    def _observe(self, started: float, error: BaseException | None) -> None:
        if self._observer is not None:
            self._observer(self.spec.logical_id, time.monotonic() - started, error)

    def _load(self) -> Callable[[Any, Any], Any]:
        with self._lock:
            if self._handler is not None:
                return self._handler
            path = self.spec.module_path
            if not path.is_file():
                raise FunctionCodeMissingError(f"{self.spec.logical_id}: {path} does not exist")
            module = import_file(path, f"devstack_fn_{self.spec.logical_id}_{uuid.uuid4().hex[:8]}")
            handler: Callable[[Any, Any], Any] | None = getattr(module, self.spec.handler_name, None)
            if handler is None or not callable(handler):
                raise FunctionCodeMissingError(
                    f"{self.spec.logical_id}: {path} has no function {self.spec.handler_name}"
                )
            self._module = module
            self._handler = handler
            return handler


_IMPORT_LOCK = threading.Lock()


def import_file(path: Path, module_name: str) -> ModuleType:
    """Import ``path`` as ``module_name``, with its folder first on sys.path while it imports."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FunctionCodeMissingError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    with _IMPORT_LOCK:
        sys.path.insert(0, folder)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            sys.path.remove(folder)
    return module
