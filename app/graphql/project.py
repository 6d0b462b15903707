"""The project's settings over GraphQL (admins only; the check is in memory/guarded.py): the
category set and the extraction instructions every add uses unless it brings its own."""
from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.context import Info
from memory.project import UNSET, ProjectSettings as Settings


@strawberry.type(description="A category: its name and what it covers (memories are filed by closeness to it).")
class ProjectCategory:
    name: str
    description: str


@strawberry.type(description="Project-wide settings; null fields are not set.")
class ProjectSettings:
    custom_categories: list[ProjectCategory] | None = strawberry.field(
        description="The category set of adds without customCategories; null: the configured set.")
    custom_instructions: str | None = strawberry.field(
        description="Added to every LLM extraction prompt unless the add brings its own prompt.")
    updated_at: datetime | None

    @classmethod
    def of(cls, settings: Settings) -> ProjectSettings:
        categories = (None if settings.custom_categories is None
                      else [ProjectCategory(name=c.name, description=c.description) for c in settings.custom_categories])
        return cls(custom_categories=categories, custom_instructions=settings.custom_instructions,
                   updated_at=settings.updated_at)


@strawberry.input
class ProjectCategoryInput:
    name: str
    description: str


@strawberry.input(description="Only the fields given change. An empty list or blank instructions clear them.")
class UpdateProjectSettingsInput:
    custom_categories: list[ProjectCategoryInput] | None = strawberry.UNSET
    custom_instructions: str | None = strawberry.UNSET


@strawberry.type
class ProjectQuery:
    @strawberry.field(description="The project's custom categories and instructions (admins only).")
    async def project_settings(self, info: Info) -> ProjectSettings:
        return ProjectSettings.of(await info.context.service.project_settings())


@strawberry.type
class ProjectMutation:
    @strawberry.mutation(description="Change the project's custom categories and/or instructions (admins only); "
                         "they apply to later adds at once on this server, within memory.project_settings_ttl_s "
                         "on other replicas.")
    async def update_project_settings(self, info: Info, input: UpdateProjectSettingsInput) -> ProjectSettings:
        categories = input.custom_categories
        changed = await info.context.service.update_project_settings(
            custom_categories=(UNSET if categories is strawberry.UNSET
                               else None if categories is None else [{c.name: c.description} for c in categories]),
            custom_instructions=UNSET if input.custom_instructions is strawberry.UNSET else input.custom_instructions)
        return ProjectSettings.of(changed)
