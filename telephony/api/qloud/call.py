"""/api/call (§3.24): list calls, subscribe to their events, dial out, and drive them."""
from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal, Union

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictBool, StringConstraints

from ...calls.controls import Control
from ...calls.outgoing import DialFailed
from ...calls.policy import PolicyDenied
from ...dialplan.policy import LIMIT_REACHED, NO_CREDIT
from ..events import Session
from .common import MAX_TIME_MS, PHONE_RE, UUID_RE, ApiError, Body, get_user_session, ok, server_of

router = APIRouter(prefix='/api/call', tags=['call'])

Number = Annotated[str, StringConstraints(pattern=PHONE_RE)]
Ms = Annotated[int, Field(ge=1, le=3_600_000)]
ControlId = Annotated[str, StringConstraints(pattern=r'^.{0,100}$')]


class _Ctl(Body):
    id: ControlId = ''


class Ring(_Ctl):
    control: Literal['ring']


class Progress(_Ctl):
    control: Literal['progress']


class Answer(_Ctl):
    control: Literal['answer']


class Hangup(_Ctl):
    control: Literal['hangup']
    hangup_cause: Annotated[int, Field(ge=1, le=127)] = 16


class Bridge(_Ctl):
    control: Literal['bridge']
    call: Annotated[str, StringConstraints(pattern=UUID_RE)]
    hangup_both: bool = True


class Split(_Ctl):
    control: Literal['split']


class Sleep(_Ctl):
    control: Literal['sleep']
    duration: Ms


class Silence(_Ctl):
    control: Literal['silence']
    duration: Ms


class Tone(_Ctl):
    control: Literal['tone']
    frequency: Annotated[int, Field(ge=0, le=40000)] = 425
    duration: Ms = 1000
    interval: Ms | None = None
    loop: Annotated[int, Field(ge=0, le=1000)] = 1


class Play(_Ctl):
    control: Literal['play']
    object: Annotated[str, StringConstraints(pattern=UUID_RE)]


class RecordStart(_Ctl):
    control: Literal['record_start']
    limit: Annotated[int, Field(ge=1, le=3600)] = 3600


class RecordStop(_Ctl):
    control: Literal['record_stop']
    discard: bool = False


class DtmfCollect(_Ctl):
    control: Literal['dtmf_collect']
    enable: bool = True


class DtmfSend(_Ctl):
    control: Literal['dtmf_send']
    digits: Annotated[str, StringConstraints(pattern=r'^[0-9#*]{1,100}$')]
    duration: Annotated[int, Field(ge=50, le=3_600_000)] = 100


class Conference(_Ctl):
    """Ours (not in §3.24): the call joins one of the owner's conferences (§3.17) as a member
    until it ends or a `split` (or `bridge`, or another `conference`) takes it out."""
    control: Literal['conference']
    conference: Annotated[str, StringConstraints(pattern=UUID_RE)]
    mute: StrictBool | None = None   # None: the conference's mute_default (booleans as §3.17's)


AnyControl = Annotated[Union[Ring, Progress, Answer, Hangup, Bridge, Split, Sleep, Silence, Tone,
                             Play, RecordStart, RecordStop, DtmfCollect, DtmfSend, Conference],
                       Field(discriminator='control')]


class ControlRequest(Body):
    queue: Literal['append', 'clear', 'break'] = 'append'
    controls: Annotated[list[AnyControl], Field(min_length=1, max_length=100)]


class Dial(Body):
    to: Number
    from_: Number = Field(alias='from')
    clip: Number | None = None
    clir: bool = False


# a policy refusal of a dial (calls/policy.py): `forbidden-to` is the document's status for
# a destination the user may not call (§3.13 fax send), `quota-exceeded` for a used-up allowance
# (the concurrent calls, or the usergroup's credits, §9.1.6)
DENIED = {LIMIT_REACHED.reason: ('quota-exceeded', 'the usergroup\'s concurrent call limit is '
                                 'reached'),
          NO_CREDIT.reason: ('quota-exceeded', 'the usergroup\'s credit cannot pay a minute of '
                             'this call'),
          'Call Filter Denied': ('forbidden-to', 'the call filter does not allow this number')}


# --- reading calls --------------------------------------------------------------------------
@router.get('')
async def list_calls(request: Request, s: Session = Depends(get_user_session),
                     from_: Annotated[int | None, Query(alias='from', ge=0, le=MAX_TIME_MS)] = None,
                     to: Annotated[int | None, Query(ge=0, le=MAX_TIME_MS)] = None,
                     start: Annotated[str | None, Query(pattern=UUID_RE)] = None,
                     order: Literal['asc', 'desc'] = 'asc',
                     count: Annotated[int, Query(ge=1, le=500)] = 10,
                     uuid: Annotated[str | None, Query(pattern=UUID_RE)] = None,
                     state: Literal['active', 'hangup'] = 'active') -> dict:
    server = server_of(request)
    if from_ is not None and to is not None and from_ > to:
        raise ApiError('wrong-syntax', 'from must not be after to')
    live = {c.id: c for c in server.calls.calls.values() if c.api and c.owner == s.user}
    if uuid is not None:
        if uuid in live:
            return ok(call={uuid: live[uuid].info})
        return ok(call=dict(await server.call_history.find(s.user, uuid=uuid)))
    if start is not None:
        t = live[start].create_time if start in live else await server.call_history.time_of(
            s.user, start)
        if t is not None:
            if order == 'asc':
                from_ = t
            else:
                to = t
    if state == 'hangup':
        found = await server.call_history.find(s.user, since=from_, until=to, order=order,
                                               count=count + 1)
        found = [(u, i) for u, i in found if u != start][:count]
        return ok(call=dict(found))
    calls = [c for c in live.values() if c.id != start
             and (from_ is None or c.create_time >= from_) and (to is None or c.create_time <= to)]
    calls.sort(key=lambda c: c.create_time, reverse=order == 'desc')
    return ok(call={c.id: c.info for c in calls[:count]})


@router.get('/event')
async def subscribe(s: Session = Depends(get_user_session)) -> dict:
    s.call_events = True
    return ok()


@router.delete('/event')
async def unsubscribe(s: Session = Depends(get_user_session)) -> dict:
    s.call_events = False
    return ok()


# --- placing and driving calls -------------------------------------------------------------
@router.post('/dial')
async def dial(body: Dial, request: Request, s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    phone = await server.phones.get(body.from_)
    if phone is None or phone.owner != s.user:
        raise ApiError('wrong-phone', 'from is not one of your numbers')
    if phone.unlock_code:
        raise ApiError('locked-phone', 'the number in from has not been unlocked yet')
    try:
        call = await server.calls.dial(s.user, body.from_, body.to, body.clip, body.clir)
    except PolicyDenied as exc:   # the status a client already knows from §3.24's siblings
        raise ApiError(*DENIED.get(exc.verdict.reason, ('forbidden-to', exc.verdict.reason))) \
            from None
    except DialFailed as exc:   # denied, no route, every attempt unavailable
        raise ApiError('fail', exc.reason) from None
    return ok(uuid=call.id)


# Which call states each control may start from (§3.24 `illegal-state`).
INCOMING_ONLY = {'ring': ('calling',), 'progress': ('calling', 'ringing'),
                 'answer': ('calling', 'ringing', 'progress')}
NEEDS_MEDIA = {'tone', 'play', 'record_start', 'dtmf_send', 'bridge', 'conference'}   # silence waits like sleep
CONTROL_QUEUE_LIMIT = 1000   # controls waiting on one call: each costs memory until it runs


@router.post('/{uuid}/control')
async def control(uuid: str, body: ControlRequest, request: Request,
                  s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    call = server.calls.calls.get(uuid)
    if call is None or not call.api or call.owner != s.user:
        raise ApiError('wrong-call', f'no active call {uuid}')
    state = call.leg.state
    controls = []
    for c in body.controls:
        params = c.model_dump(exclude={'id', 'control'}, exclude_none=True)
        name = c.control
        if name in INCOMING_ONLY and (not call.leg.incoming or state not in INCOMING_ONLY[name]):
            raise ApiError('illegal-state', f'{name} is not possible in state {state}')
        if name == 'play':
            path = await server.objects.playable(s.user, params.pop('object'))
            if path is None:
                raise ApiError('wrong-object', 'no such announcement or recording')
            params['path'] = path
        elif name == 'bridge':
            other = server.calls.calls.get(params['call'])
            if other is None or not other.api or other.owner != s.user or other is call:
                raise ApiError('wrong-call', f'cannot bridge to {params["call"]}')
        elif name == 'conference':
            params['conference'] = await _joinable(server, s.user, params.pop('conference'),
                                                   params.pop('mute', None))
        if name in NEEDS_MEDIA and state not in ('progress', 'answered') \
                and not any(x.control in ('progress', 'answer') for x in controls):
            raise ApiError('illegal-state', f'{name} needs an answered call or early media')
        if name == 'split' and call.bridged_with is None and call.in_conference is None \
                and not any(x.control in ('bridge', 'conference') for x in controls):
            raise ApiError('illegal-state', 'the call is neither bridged nor in a conference')
        elif name == 'record_stop' and call.recording_path is None \
                and not any(x.control == 'record_start' for x in controls):
            raise ApiError('illegal-state', 'the call is not being recorded')
        elif name == 'tone' and 'interval' not in params:
            params['interval'] = 0
        controls.append(Control(name, c.id, params))
    if call.leg.ended:
        raise ApiError('illegal-state', 'the call has ended')
    kept = len(call.queue.pending) if body.queue == 'append' else 0
    if kept + len(controls) > CONTROL_QUEUE_LIMIT:
        raise ApiError('too-large', f'a call queues at most {CONTROL_QUEUE_LIMIT} controls; '
                       f'{kept} are waiting')
    call.queue.enqueue(controls, body.queue)
    return ok()


async def _joinable(server, owner: str, uuid: str, mute: bool | None):
    """The owner's conference a `conference` control joins (`wrong-conference` otherwise:
    unknown, someone else's, in the trash or not active), with the member's mute."""
    conference = await server.conferences.get(owner, uuid)
    if conference is None or conference.trashed is not None:
        raise ApiError('wrong-conference', f'{uuid} is not a conference of yours')
    if not conference.active:
        raise ApiError('wrong-conference', f'{uuid} is not active')
    return conference if mute is None else replace(conference, mute_default=mute)
