"""mem0's project endpoints over plain REST: a user key's 403 and an unknown project's 404 are
JSON error bodies, and mem0's options AgentMem does not serve are 400s (the happy path runs
through mem0's own client in test_mem0_project.py)."""
from __future__ import annotations

from pathlib import Path

from app.web import create_app
from tests.api.authkit import make_key, secure_settings
from tests.rest.conftest import ClientFactory, error, ok

PATH = "/api/v1/orgs/organizations/agentmem/projects/default/"


async def test_only_admins_reach_the_one_project(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(secure_settings(tmp_path)))
    admin = {"Authorization": f"Token {await make_key(client.app, 'admin')}"}
    user = {"Authorization": f"Token {await make_key(client.app, 'user', user_id='alice')}"}
    assert "only an admin" in await error(await client.get(PATH, headers=user), 403, "FORBIDDEN")
    said = await error(await client.patch(PATH, json={"custom_instructions": "x"}, headers=user), 403, "FORBIDDEN")
    assert "only an admin" in said
    other = "/api/v1/orgs/organizations/agentmem/projects/other/"
    assert "no such project" in await error(await client.get(other, headers=admin), 404, "NOT_FOUND")
    said = await error(await client.patch(PATH, json={"multilingual": True}, headers=admin), 400, "BAD_USER_INPUT")
    assert "multilingual is not served" in said
    names = await ok(await client.patch(PATH, json={"custom_categories": ["billing", "support_tickets"]},
                                        headers=admin))
    assert names["custom_categories"] == [{"billing": "billing"}, {"support_tickets": "support tickets"}]
    got = await ok(await client.get(PATH, params=[("fields", "custom_categories"), ("fields", "custom_instructions")],
                                    headers=admin))
    assert got["custom_categories"] == names["custom_categories"]
