"""mem0's project endpoints (`MemoryClient.project.get / update`): the project's custom
categories and extraction instructions, read and changed by admins.

AgentMem has one project (`ORG_ID` / `PROJECT_ID`, as /v1/ping hands them out); the settings
themselves are the core's (memory/project.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.rest.dispatch import Ctx
from app.rest.requests import ORG_ID, PROJECT_ID
from memory.categories import MAX_CATEGORIES
from memory.errors import InvalidInput, NotFound
from memory.project import MAX_INSTRUCTIONS, UNSET, ProjectSettings, categories_out

Field_ = Literal["name", "org_id", "project_id", "custom_categories", "custom_instructions", "updated_at"]
# what mem0's update may send that AgentMem does not do: refused rather than silently ignored
_NOT_SERVED = {
    "multilingual": "multilingual is not served: memories keep the language they were given in",
    "decay": "decay is not served: search ranking does not depend on how recently a memory was used",
    "agent_custom_instructions": "agent_custom_instructions is not served: custom_instructions apply to every add",
}


class ProjectPath(BaseModel):
    org_id: str
    project_id: str


class ProjectQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[Field_] | None = Field(None, description="accepted for mem0's client; every field is answered")
    org_id: str | None = None
    project_id: str | None = None


class ProjectUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    custom_categories: list[dict[str, str] | str] | None = Field(
        None, max_length=MAX_CATEGORIES, description="the project's category set: {name: description} objects (a "
        "bare name is described by itself); [] clears it (adds then use the configured set)")
    custom_instructions: str | None = Field(
        None, max_length=MAX_INSTRUCTIONS, description="added to every LLM extraction prompt unless the add brings "
        "its own prompt; \"\" clears them")
    multilingual: bool | None = None
    decay: bool | None = None
    agent_custom_instructions: str | None = None
    org_id: str | None = None
    project_id: str | None = None


class ProjectOut(BaseModel):
    name: str = PROJECT_ID
    org_id: str = ORG_ID
    project_id: str = PROJECT_ID
    custom_categories: list[dict[str, str]] | None = Field(
        description="null: not set (adds use the configured set)")
    custom_instructions: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, settings: ProjectSettings) -> ProjectOut:
        return cls(custom_categories=categories_out(settings.custom_categories),
                   custom_instructions=settings.custom_instructions, updated_at=settings.updated_at)


class ProjectUpdated(ProjectOut):
    message: str


def _project(path: ProjectPath, *named: Any) -> None:
    if path.org_id != ORG_ID or path.project_id != PROJECT_ID or any(n not in (None, p) for n, p in named):
        raise NotFound(f"no such project: AgentMem has one, org_id {ORG_ID!r} and project_id {PROJECT_ID!r}")


async def get_project(ctx: Ctx) -> ProjectOut:
    query: ProjectQuery = ctx.query
    _project(ctx.path, (query.org_id, ORG_ID), (query.project_id, PROJECT_ID))
    return ProjectOut.of(await ctx.svc.project_settings())


async def update_project(ctx: Ctx) -> ProjectUpdated:
    body: ProjectUpdateRequest = ctx.body
    _project(ctx.path, (body.org_id, ORG_ID), (body.project_id, PROJECT_ID))
    for name, why in _NOT_SERVED.items():
        if getattr(body, name) is not None:
            raise InvalidInput(why)
    sent = body.model_fields_set
    changed = await ctx.svc.update_project_settings(
        custom_categories=_described(body.custom_categories) if "custom_categories" in sent else UNSET,
        custom_instructions=body.custom_instructions if "custom_instructions" in sent else UNSET)
    return ProjectUpdated(**ProjectOut.of(changed).model_dump(), message="Project updated successfully")


def _described(categories: list[dict[str, str] | str] | None) -> list[dict[str, str]] | None:
    """mem0's client types custom_categories as names; a bare name is described by its words."""
    if categories is None:
        return None
    return [{c: c.replace("_", " ")} if isinstance(c, str) else c for c in categories]
