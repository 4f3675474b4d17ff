"""Identity templates as OpenBao fills them in ACL paths."""

from __future__ import annotations

import pytest

from tessera.policy.templating import TemplateError, populate

ENTITY = {
    "id": "e-1",
    "name": "alice",
    "metadata": {"team": "blue", "empty": ""},
    "aliases": [{"mount_accessor": "auth_approle_1", "id": "al-1", "name": "role-a", "metadata": {"k": "v"}}],
}
GROUPS = [
    {"id": "g-1", "name": "admins", "metadata": {"tier": "1"}},
    {"id": "g-2", "name": "", "namespace_id": "ns2"},
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a/{{identity.entity.id}}/b", "a/e-1/b"),
        ("{{ identity.entity.name }}", "alice"),
        ("m/{{identity.entity.metadata.team}}", "m/blue"),
        ("m/{{identity.entity.metadata.empty}}", "m/"),
        ("x/{{identity.entity.aliases.auth_approle_1.name}}", "x/role-a"),
        ("x/{{identity.entity.aliases.auth_approle_1.metadata.k}}", "x/v"),
        ("g/{{identity.groups.ids.g-1.name}}", "g/admins"),
        ("g/{{identity.groups.names.admins.id}}", "g/g-1"),
        ("g/{{identity.groups.names.admins.metadata.tier}}", "g/1"),
        ("plain", "plain"),
    ],
)
def test_filled(text: str, expected: str) -> None:
    assert populate(text, entity=ENTITY, groups=GROUPS)[1] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{identity.entity.bogus}}", "no value could be found for one of the template directives"),
        ("{{identity.entity.metadata.nope}}", "no value could be found for one of the template directives"),
        ("{{identity.entity.aliases.other.name}}", "alias not found"),
        ("{{identity.entity.aliases.x}}", "invalid alias selector"),
        ("{{identity.groups.ids.g-9.name}}", 'entity is not a member of group "g-9"'),
        ("{{identity.groups.ids.g-2.name}}", "no value could be found for one of the template directives"),
        ("{{identity.groups.names.admins}}", "invalid groups accessor"),
        ("{{identity.groups.x.y.z}}", "invalid groups selector"),
        ("{{nothing}}", "no value could be found for one of the template directives"),
        ("a}}b", "unbalanced templating characters"),
        ("{{a", "unbalanced templating characters"),
    ],
)
def test_unfillable(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        populate(text, entity=ENTITY, groups=GROUPS)


def test_missing_entity_groups_and_blocked_values() -> None:
    with pytest.raises(TemplateError, match="no entity was provided"):
        populate("{{identity.entity.id}}")
    with pytest.raises(TemplateError, match="no groups were provided"):
        populate("{{identity.groups.ids.g-1.id}}", entity=ENTITY)
    with pytest.raises(TemplateError, match='forbidden value "\\*"'):
        populate("{{identity.entity.name}}", entity={"name": "a*"})
    assert populate("{{identity.entity.name}}", entity={"name": "a*"}, blocked=())[1] == "a*"


def test_validity_only_and_time() -> None:
    assert populate("a/{{identity.entity.id}}", validity_only=True) == (True, "")
    assert populate("a", validity_only=True) == (False, "a")
    assert populate("{{time.now}}", now=100.0)[1] == "100"
    assert populate("{{time.now.plus.1h}}", now=100.0)[1] == "3700"
    with pytest.raises(TemplateError, match="missing time operand"):
        populate("{{time.now.plus}}")
