"""Q-loud usergroups (§9.1.6) and enterprises (§9.1.7): extensions and the call limit."""
import pytest

from telephony.dialplan.usergroups import ExtensionHit, Usergroup, limit_allows, resolve_extension

# §9.1.6 GET /api/partner/usergroup and GET .../extension, one group given a second user
ACCOUNTING = Usergroup.from_json('d322dfe0-9730-11e4-8ff7-f8a96351ccd6', {
    'description': 'Accounting', 'prefix': 7,
    'extensions': {'10': '77a93f80-7f96-11e4-bfab-f8a96351ccd6',
                   '20': 'c759a6b0-7f9a-11e4-bfab-f8a96351ccd6'}})
CONTROLLING = Usergroup.from_json('e8ee4030-9730-11e4-8ff7-f8a96351ccd6', {
    'description': 'Controlling',
    'extensions': {'100': '5704a3d8-7b9e-11e4-af85-1725ff033d08',
                   '20': '57054036-7b9e-11e4-af28-17b08d2664a8'}})
SALES = Usergroup.from_json('47795c20-d3b3-11e4-b265-f8a96351ccd6', {
    'prefix': 3, 'extensions': {'10': '5705df5a-7b9e-11e4-be13-8f63fafaa45c'}})
ENTERPRISE = [ACCOUNTING, CONTROLLING, SALES]


def test_own_group_extension_reaches_that_users_dial_plan():
    assert resolve_extension('10', ACCOUNTING, ENTERPRISE) == \
        ExtensionHit('77a93f80-7f96-11e4-bfab-f8a96351ccd6', ACCOUNTING.uuid, '10')
    # the caller's own group wins over another group's equal extension
    assert resolve_extension('20', CONTROLLING, ENTERPRISE).user == '57054036-7b9e-11e4-af28-17b08d2664a8'
    assert resolve_extension('20', ACCOUNTING, ENTERPRISE, group_prefix_enable=True).group == ACCOUNTING.uuid


def test_without_group_prefix_other_groups_are_reached_by_their_extension():
    assert resolve_extension('100', ACCOUNTING, ENTERPRISE).group == CONTROLLING.uuid
    assert resolve_extension('10', CONTROLLING, ENTERPRISE).group == ACCOUNTING.uuid   # enterprise order
    assert resolve_extension('710', CONTROLLING, ENTERPRISE) is None


def test_with_group_prefix_other_groups_need_it():
    assert resolve_extension('100', ACCOUNTING, ENTERPRISE, group_prefix_enable=True) is None
    hit = resolve_extension('310', CONTROLLING, ENTERPRISE, group_prefix_enable=True)
    assert hit == ExtensionHit('5705df5a-7b9e-11e4-be13-8f63fafaa45c', SALES.uuid, '10')
    assert resolve_extension('720', CONTROLLING, ENTERPRISE, group_prefix_enable=True).group == ACCOUNTING.uuid
    # own group by its own prefix too
    assert resolve_extension('710', ACCOUNTING, ENTERPRISE, group_prefix_enable=True).group == ACCOUNTING.uuid
    # a group without a prefix cannot be reached from others
    assert resolve_extension('0100', ACCOUNTING, ENTERPRISE, group_prefix_enable=True) is None


def test_no_group_no_extension():
    assert resolve_extension('10', None, ENTERPRISE) is None
    assert resolve_extension('+4910', ACCOUNTING, ENTERPRISE) is None
    assert resolve_extension('30', ACCOUNTING, ENTERPRISE) is None
    assert resolve_extension('10', SALES) == ExtensionHit('5705df5a-7b9e-11e4-be13-8f63fafaa45c',
                                                          SALES.uuid, '10')


def test_prefix_0_is_no_prefix():
    assert Usergroup.from_json('g', {'prefix': 0}).prefix is None


@pytest.mark.parametrize('body, field', [
    ({'prefix': 10}, 'prefix'), ({'prefix': '7'}, 'prefix'), ({'prefix': True}, 'prefix'),
    ({'limit': 1000}, 'limit'), ({'limit': -1}, 'limit'),
    ({'extensions': {'123456': 'u'}}, 'extensions'), ({'extensions': {'1a': 'u'}}, 'extensions'),
    ({'extensions': ['10']}, 'extensions'),
])
def test_bad_groups(body, field):
    with pytest.raises(ValueError) as e:
        Usergroup.from_json('g', body)
    assert str(e.value).startswith(field + ':')


def test_concurrent_call_limit():
    # §9.1.6 POST .../limit {"limit": 2}
    group = Usergroup.from_json('g', {'limit': 2})
    assert [limit_allows(n, group.limit) for n in range(4)] == [True, True, False, False]
    # "A limit of 0 effectively prevents the users in the group from establishing any calls"
    assert not limit_allows(0, 0)
    assert limit_allows(10_000, None)      # no limit (DELETE .../limit, or never set)
