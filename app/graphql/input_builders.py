"""Input objects built from graphql-core's values by a plan made once per input type.

Why: Strawberry builds an input object by walking its fields on every value, working out each
field's GraphQL name and resolving its type annotation again: ~145 us for an addMemories input
(graphql-core's own coercion before it takes ~13 us), ~8% of the event loop's CPU for an add,
and ~55 us for a search's arguments. Strawberry lets a type definition build its own value
(`from_input`, the hook its pydantic integration uses); `install` gives every input object of a
schema a builder that works the plan out at its first value and then only copies: a scalar's
or an enum's value is kept as graphql-core parsed it, a list of them copied, as Strawberry
does; anything else (nested input objects, lists of them) goes back through Strawberry's own
conversion (`InputContext.convert`), which meets these builders again for the inputs inside.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from graphql import GraphQLInputObjectType, GraphQLSchema
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryObjectDefinition, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.unset import UNSET

_KEEP, _COPY_LIST, _CONVERT = 0, 1, 2
# (GraphQL name, Python name, how its value is converted, its Strawberry type)
_Step = tuple[str, str, int, Any]


def install(schema: GraphQLSchema) -> None:
    """Give each input object type of `schema` a builder, except those that build their own."""
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLInputObjectType):
            continue
        definition = (graphql_type.extensions or {}).get("strawberry-definition")
        if isinstance(definition, StrawberryObjectDefinition) and definition.from_input is None:
            definition.from_input = InputBuilder(definition)


class InputBuilder:
    """`from_input` for one input type: `(cls, value, context)` -> an instance of `cls`."""

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self._definition = definition
        self._registry: Mapping[object, Any] | None = None
        self._steps: list[_Step] = []
        # what Strawberry passes for a field the value leaves out and no default covers
        self._unset = {f.python_name: None for f in definition.fields
                       if f.default_value is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        if context.scalar_registry is not self._registry:  # a plan per schema's scalars
            self._steps = self._plan(context)
            self._registry = context.scalar_registry
        kwargs = dict(self._unset)
        for graphql_name, python_name, how, type_ in self._steps:
            if graphql_name not in value:
                continue
            given = value[graphql_name]
            if how == _KEEP:
                kwargs[python_name] = given
            elif how == _COPY_LIST:  # a copy: graphql-core gives every request the same default list
                kwargs[python_name] = given if given is None or given is UNSET else list(given)
            else:
                kwargs[python_name] = context.convert(given, type_, graphql_name)
        return cls(**kwargs)

    def _plan(self, context: InputContext) -> list[_Step]:
        names: Callable[[Any], str] = context.config.name_converter.from_field
        steps: list[_Step] = []
        for field in self._definition.fields:
            type_ = field.resolve_type(type_definition=self._definition)
            if _kept(type_, context.scalar_registry):
                how = _KEEP
            else:
                inner = type_.of_type if _plain_optional(type_) else type_
                listed = isinstance(inner, StrawberryList) and _kept(inner.of_type, context.scalar_registry)
                how = _COPY_LIST if listed else _CONVERT
            steps.append((names(field), field.python_name, how, type_))
        return steps


def _plain_optional(type_: Any) -> bool:
    # a Maybe is an Optional too, but its value is wrapped: Strawberry converts those
    return isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe)


def _kept(type_: Any, registry: Mapping[object, Any]) -> bool:
    """A value Strawberry passes on as graphql-core parsed it: a scalar's or an enum's, or null."""
    if _plain_optional(type_):
        type_ = type_.of_type
    if type_ is GlobalID:  # parsed from its text by Strawberry
        return False
    return is_scalar(type_, registry) or isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_)
