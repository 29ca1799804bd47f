"""A tool defined once: name, description, pydantic input and output, and the function that runs it.

The three faces (MCP server, ``dspy.Tool``, OpenAI function schema) are all derived from a :class:`ToolSpec`,
so a field added to an input model shows up everywhere at once.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Callable

from pydantic import BaseModel, Field, ValidationError

from logreasoner.errors import InputError

__all__ = ["ToolSpec", "ToolInputError", "inline_refs", "describe_validation_error"]


class ToolInputError(InputError):
    """Arguments that do not fit a tool's input model."""


def describe_validation_error(name: str, err: ValidationError) -> ToolInputError:
    parts = []
    for e in err.errors()[:8]:
        where = ".".join(str(x) for x in e.get("loc", ())) or "arguments"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return ToolInputError(f"bad arguments for {name}: " + "; ".join(parts),
                          "check the tool's input schema (list the tools to see it)")


def inline_refs(schema: dict) -> dict:
    """Replace local ``$ref``s by their definitions (clients differ in how well they follow refs)."""
    root = copy.deepcopy(schema)
    defs = root.pop("$defs", {})

    def walk(node: Any, depth: int = 0) -> Any:
        if depth > 40:
            return node
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                target = defs.get(node["$ref"].split("/")[-1], {})
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**copy.deepcopy(target), **rest}, depth + 1)
            return {k: walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(x, depth + 1) for x in node]
        return node

    return walk(root)


@dataclass(frozen=True)
class ToolSpec:
    """One tool. ``run`` takes a validated ``input_model`` instance and returns an ``output_model`` instance."""

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    run: Callable[[Any], BaseModel]
    reads_files: bool = False
    uses_model: bool = False

    def parameters_schema(self) -> dict:
        """JSON schema of the arguments (refs inlined, titles dropped)."""
        schema = inline_refs(self.input_model.model_json_schema())
        schema.pop("title", None)
        schema.pop("description", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("properties", {})
        schema["additionalProperties"] = False
        return schema

    def output_schema(self) -> dict:
        return inline_refs(self.output_model.model_json_schema())

    def validate(self, arguments: dict[str, Any] | None) -> BaseModel:
        try:
            return self.input_model.model_validate(arguments or {})
        except ValidationError as e:
            raise describe_validation_error(self.name, e) from None

    def call(self, arguments: dict[str, Any] | None = None) -> BaseModel:
        """Validate the arguments, run the tool, return its typed result (errors raise LogReasonerError)."""
        return self.run(self.validate(arguments))

    def function(self) -> Callable[..., BaseModel]:
        """A plain function with one keyword parameter per input field (typed, described, defaulted)."""
        params, annotations = [], {}
        for fname, f in self.input_model.model_fields.items():
            ann = Annotated[(f.annotation, Field(description=f.description), *f.metadata)]  # type: ignore[valid-type]
            default = inspect.Parameter.empty if f.is_required() else f.get_default(call_default_factory=True)
            params.append(inspect.Parameter(fname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann))
            annotations[fname] = ann
        spec = self

        def tool(**kwargs: Any) -> BaseModel:
            return spec.call(kwargs)

        tool.__name__ = tool.__qualname__ = self.name
        tool.__doc__ = self.description
        annotations["return"] = self.output_model
        tool.__annotations__ = annotations
        tool.__signature__ = inspect.Signature(params, return_annotation=self.output_model)  # type: ignore[attr-defined]
        return tool
