"""projectSettings / updateProjectSettings: an admin's round trip, the checks (extensions.code),
and any other credential refused."""
from __future__ import annotations

from pathlib import Path

from app.web import create_app
from tests.api.authkit import Caller, error_code, make_key, secure_settings
from tests.api.conftest import ClientFactory

FIELDS = "customCategories { name description } customInstructions updatedAt"
GET = f"query {{ projectSettings {{ {FIELDS} }} }}"
UPDATE = f"mutation U($input: UpdateProjectSettingsInput!) {{ updateProjectSettings(input: $input) {{ {FIELDS} }} }}"
ADD = "mutation A($input: AddMemoriesInput!) { addMemories(input: $input) { changes { memory { categories } } } }"


async def test_an_admin_sets_the_project_settings_and_adds_use_them(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(secure_settings(tmp_path)))
    admin = Caller(client, await make_key(client.app, "admin"))
    alice = Caller(client, await make_key(client.app, "user", user_id="alice"))
    assert (await admin.data(GET))["projectSettings"] == {"customCategories": None, "customInstructions": None,
                                                         "updatedAt": None}
    categories = [{"name": "billing", "description": "invoices, payments, refunds and prices"},
                  {"name": "shipping", "description": "parcels, delivery and couriers"}]
    set_ = (await admin.data(UPDATE, input={"customCategories": categories}))["updateProjectSettings"]
    assert set_["customCategories"] == categories and set_["customInstructions"] is None and set_["updatedAt"]
    kept = (await admin.data(UPDATE, input={"customInstructions": "Only orders."}))["updateProjectSettings"]
    assert kept["customCategories"] == categories and kept["customInstructions"] == "Only orders."
    assert (await admin.data(GET))["projectSettings"] == kept
    added = await alice.data(ADD, input={"messages": [{"role": "user", "content": "The refund for invoice 42 was paid"}],
                                         "infer": False, "scope": {"userId": "alice"}})
    assert added["addMemories"]["changes"][0]["memory"]["categories"] == ["billing"]
    for bad in ({"customCategories": [{"name": "a\nb", "description": "x"}]},
                {"customCategories": [{"name": "a", "description": "x"}, {"name": "a", "description": "y"}]},
                {"customInstructions": "x" * 4001}, {}):
        assert error_code((await admin.post(UPDATE, input=bad))[1]) == "BAD_USER_INPUT", bad
    for refused in (alice.post(GET), alice.post(UPDATE, input={"customInstructions": "mine"})):
        assert error_code((await refused)[1]) == "FORBIDDEN"
    assert (await admin.data(GET))["projectSettings"] == kept
