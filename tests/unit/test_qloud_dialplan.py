"""Q-loud dial plans v2 (§4.1) and v1 (§4.2), and the precedence of a number's switches (§3.9):
the document's examples, evaluated with the time passed in."""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from telephony.dialplan.numbers import number_decision, precedence
from telephony.dialplan.qloud import (BUSY, NO_ANSWER, RECORD, REJECT, UNAVAILABLE, CallFacts,
                                      DialplanV1, DialplanV2, Ringtone, Step, Target, TimeFilter,
                                      callback, evaluate_v1, evaluate_v2, placed_call, v2_refusal)

# §4.1 POST /api/dialplan/v2, as the document means it (its rendering loses the closing
# braces of the first profile and of the profile list across a page break)
V2_CREATE = {
    "dialplan": {
        "description": "A description text",
        "ringtone": {"announcement": "91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0", "mix": True},
        "profiles": [
            {
                "filter": {
                    "caller": "\\+49221.*|\\+4830123456|anonymous",
                    "time": {
                        "weekdays": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"],
                        "time_start": "07:30",
                        "time_end": "13:00",
                    },
                },
                "linear": {
                    "timeout": 7,
                    "targets": [{"target": "joe_05", "timeout": 5},
                                {"target": "+491771234567", "timeout": 4}],
                },
            },
            {
                "filter": {"time": {"date": "11.06.2015", "time_start": "07:30", "time_end": "13:00"}},
                "parallel": {"timeout": 10, "targets": ["joe_04", "+491771234567"]},
            },
            {
                "cyclic": {
                    "timeout": 7,
                    "targets": [{"target": "joe_08", "timeout": 4},
                                {"target": "+491771234567", "timeout": 5}],
                },
            },
            {"record": {"announcement": "b6774686-2bc5-4af0-9dbf-33f4427adbd9"}},
        ],
    }
}
# §4.1 GET /api/dialplan/v2/(uuid) and POST /api/dialplan/v2/(uuid)
V2_GET = {"dialplan": {"description": "Busy season", "profiles": [{"reject": {}}]}}
V2_MODIFY = {"dialplan": {"description": "Holidays", "profiles": [
    {"record": {"announcement": "b6774686-2bc5-4af0-9dbf-33f4427adbd9"}}]}}

# §4.2 GET /api/dialplan and POST /api/dialplan
V1_GET = {
    "announcement": "1de1227a-4f34-11e0-ab6e-0024e8f90cc1",
    "mix_ringtone": False,
    "clip_number": "+492216698980",
    "dial_prefix": "+492216698",
    "clir_enable": False,
    "cti_via": "+492216698777",
    "action": "none",
    "phone": "+492216698999",
    "sip": "joe_01",
    "phone_pool": {"+492216698991": True, "+492216698992": False},
    "sip_pool": ["joe_08", "joe_13"],
    "callreverse_enable": False,
    "timeout": {"timeout": 20, "action": "record"},
    "unavailable": {"action": "redirect", "phone": "+492216698998", "sip": "joe_01"},
    "busy": {"action": "sip", "sip": "joe_07"},
}
V1_POST = {
    "announcement": "91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0",
    "mix_ringtone": True,
    "clip_number": "+492216698888",
    "dial_prefix": "+492216698",
    "clir_enable": False,
    "cti_via": "+492216698777",
    "action": "none",
    "phone": "+492216698001",
    "sip": "joe_01",
    "phone_pool": {"add": {"+492216698990": False, "+492216698995": True},
                   "delete": ["+492216698992"]},
    "sip_pool": {"add": ["joe_01", "joe_03"], "delete": ["joe_02"]},
    "callreverse_enable": False,
    "timeout": {"timeout": 20, "action": "record"},
    "unavailable": {"action": "redirect", "phone": "+492216698993"},
    "busy": {"action": "sip", "sip": "joe_01"},
}

MON = datetime(2015, 6, 8)          # a Monday
THU_11_06_2015 = datetime(2015, 6, 11)


def at(day: datetime, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(':'))
    return day.replace(hour=h, minute=m)


def caller(number='+4922155555', clir=False) -> CallFacts:
    return CallFacts(caller=number, clir=clir, called='+492216698000')


# ---------------------------------------------------------------- v2: the create example

PLAN = DialplanV2.from_json(V2_CREATE)


def test_v2_create_example_parses_as_written():
    assert PLAN.description == 'A description text'
    assert PLAN.ringtone == Ringtone('91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0', mix=True)
    assert [p.action for p in PLAN.profiles] == ['linear', 'parallel', 'cyclic', 'record']
    lin = PLAN.profiles[0]
    assert lin.timeout == 7
    assert lin.targets == (Target('joe_05', 5), Target('+491771234567', 4))
    assert [t.kind for t in lin.targets] == ['sip', 'phone']
    assert PLAN.profiles[1].targets == (Target('joe_04'), Target('+491771234567'))


def test_v2_first_profile_cologne_caller_in_the_morning_rings_linear():
    d = evaluate_v2(PLAN, caller('+4922112345'), at(MON, '08:00'))
    assert (d.action, d.profile, d.timeout) == ('linear', 0, 7)
    assert d.targets == (Target('joe_05', 5), Target('+491771234567', 4))
    assert d.ringtone == PLAN.ringtone     # the custom ringback plays while they ring


def test_v2_first_profile_other_listed_callers():
    assert evaluate_v2(PLAN, caller('+4830123456'), at(MON, '07:30')).profile == 0
    # "anonymous" matches calls with clir enabled, whatever the number behind it
    assert evaluate_v2(PLAN, caller('+4830999999', clir=True), at(MON, '12:59')).profile == 0
    assert evaluate_v2(PLAN, CallFacts(caller=''), at(MON, '12:59')).profile == 0


def test_v2_caller_regex_matches_the_whole_number():
    # \+4830123456 is an exact number, not a prefix
    assert evaluate_v2(PLAN, caller('+48301234567'), at(MON, '08:00')).profile == 2
    assert evaluate_v2(PLAN, caller('+4930123'), at(MON, '08:00')).profile == 2


def test_v2_first_profile_ends_at_time_end():
    # 13:00 is the end, not in the window; the next matching profile is the cyclic one
    assert evaluate_v2(PLAN, caller('+4922112345'), at(MON, '13:00')).profile == 2
    assert evaluate_v2(PLAN, caller('+4922112345'), at(MON, '07:29')).profile == 2


def test_v2_second_profile_on_its_date_only():
    d = evaluate_v2(PLAN, caller('+4930555'), at(THU_11_06_2015, '09:00'))
    assert (d.action, d.profile, d.timeout) == ('parallel', 1, 10)
    assert evaluate_v2(PLAN, caller('+4930555'), at(THU_11_06_2015 + timedelta(days=1), '09:00')).profile == 2
    assert evaluate_v2(PLAN, caller('+4930555'), at(THU_11_06_2015, '13:30')).profile == 2
    # the first profile still wins on that date for its callers
    assert evaluate_v2(PLAN, caller('+4922100'), at(THU_11_06_2015, '09:00')).profile == 0


def test_v2_cyclic_has_no_filter_and_catches_the_rest():
    d = evaluate_v2(PLAN, caller('+33123456'), at(MON, '20:00'))
    assert (d.action, d.profile, d.timeout) == ('cyclic', 2, 7)
    assert d.targets == (Target('joe_08', 4), Target('+491771234567', 5))


def test_v2_get_example_rejects_and_modify_example_records():
    d = evaluate_v2(DialplanV2.from_json(V2_GET), caller(), at(MON, '10:00'))
    assert (d.action, d.profile, d.ringtone) == ('reject', 0, None)
    plan = DialplanV2.from_json(V2_MODIFY)
    assert plan.description == 'Holidays'
    d = evaluate_v2(plan, caller(), at(MON, '10:00'))
    assert (d.action, d.announcement) == ('record', 'b6774686-2bc5-4af0-9dbf-33f4427adbd9')


def test_v2_no_profile_matches_or_none_at_all():
    assert evaluate_v2(DialplanV2.from_json({'dialplan': {}}), caller(), MON).action == 'none'
    plan = DialplanV2.from_json({'profiles': [{'filter': {'caller': 'anonymous'}, 'reject': {}}]})
    assert evaluate_v2(plan, caller(), MON).action == 'none'
    assert evaluate_v2(plan, caller(clir=True), MON).action == 'reject'


def test_v2_refusals():
    assert v2_refusal(evaluate_v2(DialplanV2.from_json(V2_GET), caller(), MON)) == REJECT
    assert v2_refusal(evaluate_v2(DialplanV2(), caller(), MON)) == UNAVAILABLE
    assert v2_refusal(evaluate_v2(PLAN, caller(), MON)) is None


def test_v2_unescaped_plus_of_the_field_table_reads_as_a_literal_plus():
    # §4.1: '"+49.*" matches calls for Germany. "+4922112345" exact match'
    plan = DialplanV2.from_json({'profiles': [{'filter': {'caller': '+4922112345'}, 'reject': {}},
                                              {'filter': {'caller': '+49.*'}, 'record': {}}]})
    assert evaluate_v2(plan, caller('+4922112345'), MON).action == 'reject'
    assert evaluate_v2(plan, caller('+4922112346'), MON).action == 'record'
    assert evaluate_v2(plan, caller('+33'), MON).action == 'none'


def test_v2_timeouts_below_one_mean_no_timeout():
    plan = DialplanV2.from_json({'profiles': [{'linear': {'timeout': 0, 'targets': [
        {'target': 'joe_01', 'timeout': 0.5}, {'target': 'joe_02'}]}}]})
    d = evaluate_v2(plan, caller(), MON)
    assert d.timeout is None and d.targets == (Target('joe_01'), Target('joe_02'))


def test_v2_aware_times_are_converted_to_utc():
    cet = timezone(timedelta(hours=1))
    # 08:00 in UTC+1 is 07:00 UTC: before the first profile's window
    assert evaluate_v2(PLAN, caller('+4922112345'), at(MON, '08:00').replace(tzinfo=cet)).profile == 2
    assert evaluate_v2(PLAN, caller('+4922112345'), at(MON, '08:30').replace(tzinfo=cet)).profile == 0


# ---------------------------------------------------------------- v2: time filters

def tf(**kw) -> TimeFilter:
    return TimeFilter.from_json(kw)


def test_time_window_crossing_midnight():
    night = tf(time_start='22:00', time_end='06:00')
    assert night.matches(at(MON, '22:00')) and night.matches(at(MON, '23:59'))
    assert night.matches(at(MON, '00:00')) and night.matches(at(MON, '05:59'))
    assert not night.matches(at(MON, '06:00')) and not night.matches(at(MON, '21:59'))
    assert not night.matches(at(MON, '12:00'))


def test_time_window_crossing_midnight_belongs_to_the_day_it_starts():
    fri_night = tf(weekdays=['FRI'], time_start='22:00', time_end='02:00')
    fri = MON + timedelta(days=4)
    assert fri_night.matches(at(fri, '23:00'))
    assert fri_night.matches(at(fri + timedelta(days=1), '01:30'))      # Saturday, early
    assert not fri_night.matches(at(fri, '01:30'))                      # Friday, early: Thursday's night
    assert not fri_night.matches(at(fri + timedelta(days=1), '23:00'))
    new_year = tf(date='31.12.2025', time_start='20:00', time_end='04:00')
    assert new_year.matches(datetime(2026, 1, 1, 3, 59))
    assert not new_year.matches(datetime(2025, 12, 31, 3, 59))


def test_equal_start_and_end_is_a_whole_day_from_start():
    # "If time_start is not earlier than the time_end, then the time_end refers to the following day"
    f = tf(weekdays=['MON'], time_start='08:00', time_end='08:00')
    assert f.matches(at(MON, '08:00')) and f.matches(at(MON + timedelta(days=1), '07:59'))
    assert not f.matches(at(MON + timedelta(days=1), '08:00')) and not f.matches(at(MON, '07:59'))


def test_only_start_or_only_end():
    assert tf(time_start='18:00').matches(at(MON, '23:59'))
    assert not tf(time_start='18:00').matches(at(MON, '17:59'))
    assert tf(time_end='09:00').matches(at(MON, '00:00'))
    assert not tf(time_end='09:00').matches(at(MON, '09:00'))


def test_weekdays():
    weekend = tf(weekdays=['SAT', 'SUN'])
    assert [weekend.matches(MON + timedelta(days=k)) for k in range(7)] == [False] * 5 + [True] * 2
    assert not tf(weekdays=[]).matches(MON)


def test_date_range_is_inclusive():
    holidays = tf(date_start='24.12.2025', date_end='26.12.2025')
    assert holidays.matches(datetime(2025, 12, 24, 0, 0))
    assert holidays.matches(datetime(2025, 12, 26, 23, 59))
    assert not holidays.matches(datetime(2025, 12, 23, 23, 59))
    assert not holidays.matches(datetime(2025, 12, 27, 0, 0))
    assert tf(date_start='01.01.2026').matches(datetime(2030, 5, 5))
    assert not tf(date_end='01.01.2026').matches(datetime(2026, 1, 2))


def test_time_filter_with_date_range_and_weekdays_and_hours():
    f = tf(date_start='01.06.2015', date_end='30.06.2015', weekdays=['MON'], time_start='09:00',
           time_end='17:00')
    assert f.matches(at(MON, '09:00'))
    assert not f.matches(at(MON + timedelta(days=1), '09:00'))
    assert not f.matches(at(MON + timedelta(days=28), '09:00'))    # 6 July


@pytest.mark.parametrize('body, field', [
    ({'profiles': [{}]}, 'profiles[0]'),
    ({'profiles': [{'reject': {}, 'record': {}}]}, 'profiles[0]'),
    ({'profiles': [{'parallel': {'targets': []}}]}, 'profiles[0].parallel.targets'),
    ({'profiles': [{'linear': {}}]}, 'profiles[0].linear.targets'),
    ({'profiles': [{'cyclic': {'targets': [{'timeout': 3}]}}]}, 'profiles[0].cyclic.targets[0].target'),
    ({'profiles': [{'parallel': {'targets': ['joe']}}]}, 'profiles[0].parallel.targets[0].target'),
    ({'profiles': [{'parallel': {'timeout': 'x', 'targets': ['joe_01']}}]}, 'profiles[0].parallel.timeout'),
    ({'profiles': [{'filter': {'caller': '(a+)+$'}, 'reject': {}}]}, 'profiles[0].filter.caller'),
    ({'profiles': [{'filter': {'caller': '[0-9'}, 'reject': {}}]}, 'profiles[0].filter.caller'),
    ({'profiles': [{'filter': {'time': {'date': '2015-06-11'}}, 'reject': {}}]},
     'profiles[0].filter.time.date'),
    ({'profiles': [{'filter': {'time': {'time_start': '24:00'}}, 'reject': {}}]},
     'profiles[0].filter.time.time_start'),
    ({'profiles': [{'filter': {'time': {'weekdays': ['MONDAY']}}, 'reject': {}}]},
     'profiles[0].filter.time.weekdays'),
    ({'profiles': [{'filter': {'time': {'date_start': '02.01.2026', 'date_end': '01.01.2026'}},
                    'reject': {}}]}, 'profiles[0].filter.time.date_end'),
    ({'ringtone': {'announcement': 'a', 'mix': 'yes'}}, 'ringtone.mix'),
    ({'profiles': {}}, 'profiles'),
    ({'profiles': [{'reject': {}}] * 101}, 'profiles'),
])
def test_v2_from_json_names_the_field_it_cannot_use(body, field):
    with pytest.raises(ValueError) as e:
        DialplanV2.from_json(body)
    assert str(e.value).startswith(field + ':')


# ---------------------------------------------------------------- v1

def test_v1_get_example():
    plan = DialplanV1.from_json(V1_GET)
    assert plan.phone_pool == ('+492216698991',)          # the inactive entry is not dialled
    assert plan.sip_pool == ('joe_08', 'joe_13')
    d = evaluate_v1(plan)
    # action none: the pools ring together; `phone` and `sip` are kept but not used
    assert d.first == Step('ring', (Target('+492216698991'), Target('joe_08'), Target('joe_13')))
    assert d.timeout == 20 and d.on_timeout == RECORD
    assert d.on_unavailable == Step('ring', (Target('+492216698998'),))   # redirect uses `phone`
    assert d.on_busy == Step('ring', (Target('joe_07'),))
    assert d.ringtone == Ringtone('1de1227a-4f34-11e0-ab6e-0024e8f90cc1', mix=False)
    assert d.after('timeout') == RECORD and d.after('busy') == d.on_busy
    assert d.callreverse is False


def test_v1_post_example_as_stored_first():
    plan = DialplanV1.from_json(V1_POST)
    assert plan.phone_pool == ('+492216698995',) and plan.sip_pool == ('joe_01', 'joe_03')
    d = evaluate_v1(plan)
    assert d.first.targets == (Target('+492216698995'), Target('joe_01'), Target('joe_03'))
    assert d.ringtone == Ringtone('91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0', mix=True)
    assert d.on_unavailable.targets == (Target('+492216698993'),)
    assert d.on_busy.targets == (Target('joe_01'),)


def test_v1_quick_dialling_clip_and_clir_for_calls_from_sip_accounts():
    plan = DialplanV1.from_json(V1_GET)
    p = placed_call(plan, '711')
    assert (p.number, p.clip, p.clir) == ('+492216698711', '+492216698980', False)
    assert placed_call(plan, '02214711').number == '02214711'      # a national number
    assert placed_call(plan, '+4930123').number == '+4930123'
    assert placed_call(plan, '*98').number == '*98'
    assert placed_call(plan, '1' * 12).number == '1' * 12          # would not be a number
    assert placed_call(DialplanV1.from_json({'clir_enable': True}), '711').clir is True
    assert placed_call(None, '711').number == '711'


def test_v1_callback_example_uses_cti_via_clip_and_clir():
    # §4.2 POST /api/dialplan/callback {"from": "+492118271982", "to": "+492216698711"}
    cb = callback(DialplanV1.from_json(V1_GET), '+492118271982', '+492216698711')
    assert (cb.first, cb.second, cb.caller) == ('+492216698777', '+492216698711', '+492118271982')
    assert (cb.clip, cb.clir) == ('+492216698980', False)
    with pytest.raises(ValueError, match='^no-via'):
        callback(DialplanV1.from_json({'cti_via': ''}), '+492118271982', '+492216698711')
    with pytest.raises(ValueError, match='^no-via'):
        callback(None, '+492118271982', '+492216698711')


def test_v1_actions():
    assert evaluate_v1(DialplanV1.from_json({'action': 'reject'})).first == REJECT
    assert evaluate_v1(DialplanV1.from_json({'action': 'record'})).first == RECORD
    d = evaluate_v1(DialplanV1.from_json({'action': 'redirect', 'phone': '+492216698001',
                                          'phone_pool': {'+492216698991': True}}))
    assert d.first.targets == (Target('+492216698001'), Target('+492216698991'))
    d = evaluate_v1(DialplanV1.from_json({'action': 'sip', 'sip': 'joe_01', 'sip_pool': ['joe_01']}))
    assert d.first == Step('ring', (Target('joe_01'),))              # once, not twice


def test_v1_defaults_without_fallbacks():
    d = evaluate_v1(DialplanV1.from_json({'sip_pool': ['joe_01']}))
    assert d.timeout is None            # rings until the targets or the caller end it
    assert (d.after('timeout'), d.after('busy'), d.after('unavailable')) == (NO_ANSWER, BUSY, UNAVAILABLE)
    assert d.ringtone is None
    # busy with action none is allowed and means a plain busy
    assert evaluate_v1(DialplanV1.from_json({'busy': {'action': 'none'}})).on_busy == BUSY


def test_v1_nothing_to_ring_is_unavailable_at_once():
    assert evaluate_v1(DialplanV1()).first == UNAVAILABLE
    plan = DialplanV1.from_json({'unavailable': {'action': 'record'},
                                 'phone_pool': {'+492216698991': False}})
    assert evaluate_v1(plan).first == RECORD


def test_v1_empty_strings_delete_fields():
    plan = DialplanV1.from_json({'announcement': '', 'phone': '', 'dial_prefix': '', 'sip': ''})
    assert (plan.announcement, plan.phone, plan.dial_prefix, plan.sip) == (None, None, None, None)


@pytest.mark.parametrize('body, field', [
    ({'action': 'forward'}, 'action'),
    ({'action': 'redirect'}, 'phone'),
    ({'action': 'sip', 'sip': ''}, 'sip'),
    ({'timeout': {'timeout': 20, 'action': 'none'}}, 'timeout.action'),
    ({'unavailable': {'action': 'none'}}, 'unavailable.action'),
    ({'unavailable': {'action': 'redirect'}}, 'unavailable.phone'),
    ({'busy': {'action': 'sip'}}, 'busy.sip'),
    ({'timeout': {'timeout': 'soon', 'action': 'record'}}, 'timeout.timeout'),
    ({'phone_pool': ['+492216698991']}, 'phone_pool'),
    ({'phone_pool': {'0221': True}}, 'phone_pool'),
    ({'sip_pool': ['Joe_01']}, 'sip_pool'),
    ({'clip_number': '0221'}, 'clip_number'),
    ({'clir_enable': 'no'}, 'clir_enable'),
    ({'dial_prefix': '+49 221'}, 'dial_prefix'),
])
def test_v1_from_json_names_the_field_it_cannot_use(body, field):
    with pytest.raises(ValueError) as e:
        DialplanV1.from_json(body)
    assert str(e.value).startswith(field + ':')


# ---------------------------------------------------------------- the number's precedence

@dataclass
class Phone:
    unlock_code: str | None = None
    dialplan: str | None = None
    dialplan_enable: bool = False
    call_enable: bool = False
    ivr: str | None = None
    recording_enable: bool = False
    play_announcement_only: bool = False
    fax_enable: bool = False
    conference_enable: bool = False

    @property
    def call_api_only(self) -> bool:
        return self.call_enable and not (self.dialplan_enable or self.fax_enable
                                         or self.recording_enable or self.conference_enable)


ALL_ON = dict(dialplan_enable=True, call_enable=True, ivr='ivr-1', recording_enable=True,
              fax_enable=True, conference_enable=True)


@pytest.mark.parametrize('switches, kind', [
    (dict(ALL_ON, unlock_code='1234', dialplan='v2'), 'unlock'),
    (dict(ALL_ON, dialplan='v2'), 'dialplan_v2'),
    (ALL_ON, 'dialplan_v1'),
    (dict(call_enable=True, ivr='ivr-1'), 'call_api'),
    (dict(ALL_ON, dialplan_enable=False, call_enable=False), 'ivr'),
    (dict(ALL_ON, dialplan_enable=False), 'voicemail'),     # call_enable not alone, ivr needs it off
    (dict(fax_enable=True, conference_enable=True), 'fax'),
    (dict(conference_enable=True), 'conference'),
    (dict(play_announcement_only=True), 'not_in_service'),
    ({}, 'not_in_service'),
])
def test_precedence_of_the_switches(switches, kind):
    assert precedence(Phone(**switches)) == kind


def test_number_decision_v2_first_then_v1():
    phone = Phone(**ALL_ON, dialplan='v2')
    v1 = DialplanV1.from_json({'action': 'reject'})
    d = number_decision(phone, DialplanV2.from_json(V2_GET), v1, caller(), MON)
    assert d.kind == 'dialplan_v2' and d.v2.action == 'reject' and d.v1 is None
    # the v2 object is gone: as if the field were empty, so v1 decides
    d = number_decision(phone, None, v1, caller(), MON)
    assert d.kind == 'dialplan_v1' and d.v1.first == REJECT
    d = number_decision(Phone(dialplan='v2', recording_enable=True), None, None, caller(), MON)
    assert d.kind == 'voicemail'


def test_number_decision_v2_evaluates_with_the_time():
    d = number_decision(Phone(dialplan='v2'), PLAN, None, caller('+4922112345'), at(MON, '08:00'))
    assert d.v2.action == 'linear'
    d = number_decision(Phone(dialplan='v2'), PLAN, None, caller('+4922112345'), at(MON, '14:00'))
    assert d.v2.action == 'cyclic'


def test_number_decision_other_kinds():
    d = number_decision(Phone(dialplan_enable=True), None, None, caller(), MON)
    assert d.kind == 'dialplan_v1' and d.v1.first == UNAVAILABLE
    assert number_decision(Phone(call_enable=True), None, None, caller(), MON).kind == 'call_api'
    assert number_decision(Phone(ivr='i'), None, None, caller(), MON).ivr == 'i'
    d = number_decision(Phone(recording_enable=True, play_announcement_only=True), None, None,
                        caller(), MON)
    assert (d.kind, d.record) == ('voicemail', False)
    assert number_decision(Phone(recording_enable=True), None, None, caller(), MON).record is True
    d = number_decision(Phone(fax_enable=True), None, None, caller(), MON)
    assert (d.kind, d.not_yet) == ('fax', None)     # received (ivr/fax_app.py)
    d = number_decision(Phone(conference_enable=True), None, None, caller(), MON)
    assert (d.kind, d.not_yet) == ('conference', None)
    # fax still comes first
    d = number_decision(Phone(fax_enable=True, conference_enable=True), None, None, caller(), MON)
    assert (d.kind, d.not_yet) == ('fax', None)
