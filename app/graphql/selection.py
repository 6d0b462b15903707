"""What the client selected under the current field: lets a resolver skip work (a graph round
trip, a join) whose result nobody asked for."""
from __future__ import annotations

from collections.abc import Iterable

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from app.graphql.context import Info


def selects(info: Info, name: str) -> bool:
    """True when `name` is selected directly under the field being resolved (aliases, fragments
    and inline fragments included)."""
    return any(_names(name, field.selections) for field in info.selected_fields)


def _names(name: str, selections: Iterable[Selection]) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                return True
        elif isinstance(selection, (FragmentSpread, InlineFragment)) and _names(name, selection.selections):
            return True
    return False
