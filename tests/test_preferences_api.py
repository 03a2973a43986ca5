"""Preferences: defaults, changes, resets, validation and the saved workspace layout."""

from __future__ import annotations

from tests.support.accounts import AccountFactory

URL = "/api/v1/preferences"
LAYOUT = {
    "grid": {"root": {"type": "branch", "data": []}, "width": 1280, "height": 760},
    "panels": {"welcome": {"id": "welcome", "contentComponent": "welcome"}},
}


CHECKED = (
    "theme",
    "editor.font_size",
    "terminal.font_size",
    "files.show_hidden",
    "workspace.layout",
    "editor.run_commands",
)


async def test_defaults_then_changes_then_reset(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    start = (await alice.get(URL)).json()
    # Every registered key has its default (other keys are checked where they are used).
    assert set(start["preferences"]) == set(start["schema"])
    assert {key: start["preferences"][key] for key in CHECKED} == {
        "theme": "system",
        "editor.font_size": 14,
        "terminal.font_size": 14,
        "files.show_hidden": False,
        "workspace.layout": None,
        "editor.run_commands": {},
    }
    assert start["schema"]["theme"]["default"] == "system"
    assert start["schema"]["workspace.layout"]["default"] is None
    changed = await alice.patch(
        URL,
        json={
            "preferences": {
                "theme": "dark",
                "editor.font_size": 18,
                "terminal.font_size": 12,
                "workspace.layout": LAYOUT,
            }
        },
    )
    assert changed.status_code == 200
    assert changed.json()["preferences"]["editor.font_size"] == 18
    # Another device (a new login) sees the same.
    other_device = await accounts.login("alice", create=False)
    seen = (await other_device.get(URL)).json()["preferences"]
    assert {key: seen[key] for key in CHECKED} == {
        "theme": "dark",
        "editor.font_size": 18,
        "terminal.font_size": 12,
        "files.show_hidden": False,
        "workspace.layout": LAYOUT,
        "editor.run_commands": {},
    }
    reset = await alice.patch(URL, json={"preferences": {"theme": None}})
    assert reset.json()["preferences"]["theme"] == "system"
    assert reset.json()["preferences"]["editor.font_size"] == 18


async def test_preferences_are_per_user(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    bob = await accounts.login("bob")
    await alice.patch(URL, json={"preferences": {"theme": "dark"}})
    assert (await bob.get(URL)).json()["preferences"]["theme"] == "system"


async def test_one_bad_value_changes_nothing(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    cases = [
        ({"theme": "dark", "editor.font_size": 99}, "body.preferences.editor.font_size"),
        ({"theme": "purple"}, "body.preferences.theme"),
        ({"editor.font_size": "14"}, "body.preferences.editor.font_size"),
        ({"editor.font_size": 14.5}, "body.preferences.editor.font_size"),
        ({"terminal.font_size": 7}, "body.preferences.terminal.font_size"),
        ({"files.show_hidden": "yes"}, "body.preferences.files.show_hidden"),
        ({"theme": "dark", "colour": "red"}, "body.preferences.colour"),
        ({"workspace.layout": [1, 2]}, "body.preferences.workspace.layout"),
        ({"editor.run_commands": {"a/b": "x"}}, "body.preferences.editor.run_commands"),
        ({"editor.run_commands": {"py": 3}}, "body.preferences.editor.run_commands"),
        ({"editor.indent_size": 0}, "body.preferences.editor.indent_size"),
        ({"editor.line_wrapping": "yes"}, "body.preferences.editor.line_wrapping"),
        ({"editor.output_height": 20}, "body.preferences.editor.output_height"),
        ({"editor.output_collapsed": 1}, "body.preferences.editor.output_collapsed"),
        ({"desktop.scaling": "stretch"}, "body.preferences.desktop.scaling"),
        ({"desktop.quality": 10}, "body.preferences.desktop.quality"),
        ({"desktop.compression": -1}, "body.preferences.desktop.compression"),
        ({"desktop.dot_cursor": "on"}, "body.preferences.desktop.dot_cursor"),
        ({"workspace.layout": {"big": "x" * 300_000}}, "body.preferences.workspace.layout"),
    ]
    for changes, field in cases:
        response = await alice.patch(URL, json={"preferences": changes})
        assert response.status_code in (413, 422), changes
        if response.status_code == 422:
            assert response.json()["error"]["details"][0]["field"] == field, changes
    assert (await alice.get(URL)).json()["preferences"]["theme"] == "system"
    not_an_object = await alice.patch(URL, json={"preferences": "dark"})
    assert not_an_object.status_code == 422
    missing = await alice.patch(URL, json={})
    assert missing.status_code == 422


async def test_a_large_layout_within_the_limits_is_kept(accounts: AccountFactory) -> None:
    alice = await accounts.login("alice")
    panels = {
        f"p{i}": {"id": f"p{i}", "contentComponent": "welcome", "title": "t" * 100}
        for i in range(200)
    }
    layout = {**LAYOUT, "panels": panels}
    response = await alice.patch(URL, json={"preferences": {"workspace.layout": layout}})
    assert response.status_code == 200
    assert (await alice.get(URL)).json()["preferences"]["workspace.layout"] == layout
