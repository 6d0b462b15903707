"""What one operation may cost, checked before it runs.

Depth, aliases and tokens are limited by validation rules and the parser. The cost rule needs
the variables (`first: $n`), so `OperationGuard` runs once the document is valid, as execution begins:

- every field costs 1;
- a field with a `first`/`limit` argument multiplies the cost of what it selects by that
  number (the value given, or the argument's default), at most `max_page` (the service
  refuses larger pages itself, with a clearer message than a cost error);
- a list field without one multiplies by `list_size` (memory history, relations,
  neighbours...), except the lists inside a page (Connection edges/nodes, search hits), which
  the page's own size already counted.

So `memories(first: 100) { nodes { history { text } } }` costs 1 + 100 * (1 + (1 + 10 * 1)) = 1201."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_input_type,
    type_from_ast,
    value_from_ast,
    visit,
)
from graphql.pyutils import Undefined
from strawberry.types import ExecutionContext

SIZE_ARGUMENTS = ("first", "limit")
Remember = Callable[[Any, tuple[Any, ...], Callable[[], Any]], Any]
PAGE_TYPES = frozenset({"SearchResult"})  # plus every *Connection type


class _Cost:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: dict[str, Any], list_size: int, max_page: int) -> None:
        self._schema = schema
        self._max_page = max_page
        self._fragments = fragments
        self._variables = variables
        self._list_size = list_size
        # a fragment's cost does not depend on where it is spread: computing it once keeps
        # fragments that spread others many times (exponential documents) cheap to price
        self._fragment_costs: dict[str, int] = {}

    def of(self, parent: Any, selection_set: SelectionSetNode | None, spreading: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(parent, selection, spreading)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                total += self.of(inner, selection.selection_set, spreading)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection.name.value, spreading)
        return total

    def _spread(self, name: str, spreading: frozenset[str]) -> int:
        if name in spreading or name not in self._fragments:  # cycles are refused by validation
            return 0
        if name not in self._fragment_costs:
            fragment = self._fragments[name]
            self._fragment_costs[name] = self.of(
                self._schema.get_type(fragment.type_condition.name.value), fragment.selection_set, spreading | {name}
            )
        return self._fragment_costs[name]

    def _field(self, parent: Any, node: FieldNode, spreading: frozenset[str]) -> int:
        definition = getattr(parent, "fields", {}).get(node.name.value)
        if definition is None:  # __typename, introspection: priced at 1, bounded by the schema
            return 1
        size = self._size(node, definition)
        if size is None:
            in_page = parent.name in PAGE_TYPES or parent.name.endswith("Connection")
            listed = isinstance(get_nullable_type(definition.type), GraphQLList)
            size = self._list_size if listed and not in_page else 1
        return 1 + size * self.of(get_named_type(definition.type), node.selection_set, spreading)

    def _size(self, node: FieldNode, definition: Any) -> int | None:
        for argument in node.arguments or ():
            name = argument.name.value
            if name in SIZE_ARGUMENTS and name in definition.args:
                value = value_from_ast(argument.value, definition.args[name].type, self._variables)
                if isinstance(value, int):
                    return min(max(value, 0), self._max_page)
        for name in SIZE_ARGUMENTS:
            arg = definition.args.get(name)
            if arg is not None and isinstance(arg.default_value, int):
                return min(max(arg.default_value, 0), self._max_page)
        return None


def sized_by_variables(document: Any) -> bool:
    """Whether a variable sets a size anywhere in the document (`first: $n`): its cost then
    depends on the request's variables; otherwise one price holds for every request."""
    found = False

    class _Sizes(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            nonlocal found
            if node.name.value in SIZE_ARGUMENTS and _has_variable(node.value):
                found = True

    visit(document, _Sizes())
    return found


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(f.value) for f in value.fields)
    return False


def operation_cost(schema: GraphQLSchema, document: Any, operation_name: str | None,
                   variables: dict[str, Any] | None, list_size: int, max_page: int) -> int:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    values = _variable_defaults(schema, operation)
    values.update(variables or {})
    root = schema.get_root_type(operation.operation)
    return _Cost(schema, fragments, values, list_size, max_page).of(root, operation.selection_set)


def _variable_defaults(schema: GraphQLSchema, operation: OperationDefinitionNode) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        kind = type_from_ast(schema, definition.type)
        if definition.default_value is not None and is_input_type(kind):
            value = value_from_ast(definition.default_value, kind, {})  # type: ignore[arg-type]
            if value is not Undefined:
                defaults[definition.variable.name.value] = value
    return defaults


class OperationGuard:
    """Prices an operation (refused above `max_cost`) and, on a WebSocket, charges the
    principal's rate limit for it (HTTP requests were charged when authenticated)."""

    def __init__(self, *, max_cost: int, list_size: int, max_page: int, remember: Remember | None = None) -> None:
        """`remember(document, key, compute)`: what was worked out about a parsed document, kept
        with it (app/graphql/parse_cache.py); a document whose sizes no variable sets is then
        priced once, not on every request."""
        self.max_cost = max_cost
        self.list_size = list_size
        self.max_page = max_page
        self._remember = remember

    async def check(self, ctx: ExecutionContext) -> None:
        """Before `ctx`'s operation runs (its document parsed and valid)."""
        schema, document = ctx.schema._schema, ctx.graphql_document

        def price() -> int:
            return operation_cost(schema, document, ctx.operation_name, ctx.variables, self.list_size, self.max_page)

        if self._remember is not None and not self._remember(document, ("sized by variables",),
                                                             lambda: sized_by_variables(document)):
            cost = self._remember(document, ("cost", id(schema), ctx.operation_name, self.list_size, self.max_page),
                                  price)
        else:
            cost = price()
        if cost > self.max_cost:
            raise GraphQLError(
                f"this operation would cost {cost}, more than the limit of {self.max_cost}: ask for fewer "
                "items (first/limit) or fewer nested lists",
                extensions={"code": "GRAPHQL_VALIDATION_FAILED", "cost": cost, "maxCost": self.max_cost},
            )
        charge = getattr(ctx.context, "charge", None)
        if charge is not None:
            await charge()
