"""The input builders give resolvers the same input objects Strawberry's own conversion does."""
from __future__ import annotations

from typing import Any

import graphql
import pytest
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition

from app.graphql.input_builders import InputBuilder
from app.graphql.schema import build_schema

SCHEMA = build_schema()

# (root type, document, variables): every input type of an add, an update, a search and a
# memories page, with nested and listed inputs, lists of scalars, enums, JSON and nulls
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("Mutation", """mutation($t: String!) { addMemories(input: {
        messages: [{role: "user", content: $t}, {role: "assistant", content: "ok", occurredAt: "2026-01-02T03:04:05Z"}],
        scope: {userId: "u1", agentId: "a1"}, metadata: {k: [1, "two", null]}, infer: false,
        expirationDate: "2030-01-01", categories: ["food", "travel"],
        customCategories: [{name: "food", description: "what one eats"}]}) { changes { id } } }""",
     {"t": "hello there"}),
    ("Mutation", """mutation { addMemories(input: {messages: [{role: "user", content: "x"}],
        scope: {userId: "u1"}}) { changes { id } } }""", {}),
    ("Mutation", """mutation($c: [String!]) { updateMemory(input: {id: "m1", text: "new", categories: $c,
        metadata: null}) { id } }""", {"c": ["a", "b"]}),
    ("Query", """query($q: String!) { search(query: $q, scope: {userId: "u1"}, limit: 3, mode: LEXICAL,
        threshold: 0.2, asOf: "2026-05-01T00:00:00Z",
        filter: {and: [{field: {name: "category", in: ["a", null, 3]}}, {not: {field: {name: "x", eq: {y: 1}}}}],
                 or: [{field: {name: "n", gte: 2}}]}) { hits { score } } }""", {"q": "tea"}),
    ("Query", """{ memories(filter: {field: {name: "k", contains: "v", nin: []}}, orderBy: UPDATED_ASC) {
        nodes { id } } }""", {}),
]


def _definitions() -> list[StrawberryObjectDefinition]:
    out = []
    for graphql_type in SCHEMA._schema.type_map.values():
        if isinstance(graphql_type, graphql.GraphQLInputObjectType):
            out.append(graphql_type.extensions["strawberry-definition"])
    return out


def _values(root: str, document: str, variables: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    operation = graphql.parse(document).definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    coerced = get_variable_values(SCHEMA._schema, operation.variable_definitions or [], variables)
    assert not isinstance(coerced, list), coerced  # errors
    node = operation.selection_set.selections[0]
    assert isinstance(node, graphql.FieldNode)
    graphql_field = SCHEMA._schema.get_type(root).fields[node.name.value]  # type: ignore[union-attr]
    field = SCHEMA.get_field_for_type(node.name.value, root)
    assert field is not None
    return get_argument_values(graphql_field, node, coerced), field.arguments


def _convert(root: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    values, arguments = _values(root, document, variables)
    return convert_arguments(values, arguments, SCHEMA.schema_converter.scalar_registry, SCHEMA.config)


def test_every_input_type_of_the_schema_has_a_builder() -> None:
    definitions = _definitions()
    assert len(definitions) >= 10
    assert all(isinstance(d.from_input, InputBuilder) for d in definitions)


@pytest.mark.parametrize("root,document,variables", CASES)
def test_built_inputs_equal_strawberrys_own(
    root: str, document: str, variables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _convert(root, document, variables)
    for definition in _definitions():  # Strawberry's conversion, field by field
        monkeypatch.setattr(definition, "from_input", None)
    assert built == _convert(root, document, variables)
    assert any(built.values())


def test_a_list_of_scalars_is_a_copy() -> None:
    # graphql-core hands every request that omits a value the same default: a resolver
    # changing a list it was given must not change what the next request gets
    values, arguments = _values(*CASES[2])
    registry = SCHEMA.schema_converter.scalar_registry
    convert_arguments(values, arguments, registry, SCHEMA.config)["input"].categories.append("changed")
    assert convert_arguments(values, arguments, registry, SCHEMA.config)["input"].categories == ["a", "b"]
