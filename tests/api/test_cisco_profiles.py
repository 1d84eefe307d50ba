"""/api/v1/callProfiles, /callLegProfiles, /dtmfProfiles, /dialInSecurityProfiles (CMS §8.2,
§8.4, §8.8, §14) and /system/profiles (§10.5) against the real server: create, read,
update, unset, delete, collections (filter, offset/limit, usageFilter), every parameter
check and failure reason, coSpaces and access methods naming profiles, and passcodeTooShort
from the minPasscodeLength inherited global -> coSpace -> access method."""
from __future__ import annotations

import pytest

from tests.integration.conftest import ServerProcess

from .cisco import ADMIN, PASSWORD, basic_client, create, failure, get_object, is_xml, listing
from .conftest import Api


@pytest.fixture(scope='module')
def c(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp('profiles') / 'data').start()
    api = Api(server)
    try:
        api.add_user(ADMIN, PASSWORD, '--admin')
        yield basic_client(api)
    finally:
        api.close()
        server.stop()


def put_ok(c, path: str, **form) -> None:
    r = is_xml(c.put(f'/{path}', data=form))
    assert r.status_code == 200, r.text


def refused(c, verb: str, path: str, **form) -> tuple[int, tuple]:
    r = getattr(c, verb)(f'/{path}', data=form) if form else getattr(c, verb)(f'/{path}')
    return r.status_code, failure(r)


CALL = {'participantLimit': '12', 'locked': 'false', 'recordingMode': 'disabled',
        'lockMode': 'needsActivation', 'sipRecorderUri': 'rec@example.com',
        'sipStreamerUri': 'str@example.com', 'streamingMode': 'automatic',
        'passcodeMode': 'timeout', 'passcodeTimeout': '5',
        'gatewayAudioCallOptimization': 'true', 'lyncConferenceMode': 'gateway',
        'muteBehavior': 'separate', 'messageBannerText': 'Welcome', 'chatAllowed': 'false',
        'raiseHandEnabled': 'false', 'notesAllowed': 'true', 'captionsAllowed': 'true',
        'backgroundBlurAllowed': 'true', 'fileReceiveAllowed': 'true',
        'logoFileName': 'logo.png', 'logoPosition': 'rightBottom', 'surveyAllowed': 'true',
        'name': 'Board calls'}
LEG = {'needsActivation': 'true', 'defaultLayout': 'speakerOnly', 'changeLayoutAllowed': 'false',
       'participantLabels': 'true', 'presentationDisplayMode': 'singleStream',
       'presentationContributionAllowed': 'false', 'presentationViewingAllowed': 'true',
       'endCallAllowed': 'false', 'disconnectOthersAllowed': 'false',
       'addParticipantAllowed': 'false', 'muteOthersAllowed': 'true',
       'videoMuteOthersAllowed': 'false', 'muteSelfAllowed': 'true',
       'videoMuteSelfAllowed': 'true', 'joinToneParticipantThreshold': '10',
       'leaveToneParticipantThreshold': '0', 'videoMode': 'disabled', 'rxAudioMute': 'true',
       'txAudioMute': 'false', 'rxVideoMute': 'false', 'txVideoMute': 'false',
       'sipMediaEncryption': 'prohibited', 'audioPacketSizeMs': '20',
       'deactivationMode': 'disconnect', 'deactivationModeTime': '30',
       'telepresenceCallsAllowed': 'false', 'sipPresentationChannelEnabled': 'false',
       'bfcpMode': 'serverOnly', 'callLockAllowed': 'true', 'setImportanceAllowed': 'false',
       'allowAllMuteSelfAllowed': 'true', 'allowAllPresentationContributionAllowed': 'false',
       'changeJoinAudioMuteOverrideAllowed': 'true', 'recordingControlAllowed': 'false',
       'streamingControlAllowed': 'false', 'name': 'Guests', 'maxCallDurationTime': '3600',
       'qualityMain': 'max720p30', 'qualityPresentation': 'max720p5',
       'participantCounter': 'always', 'controlRemoteCameraAllowed': 'false',
       'audioGainMode': 'agc', 'meetingTitlePosition': 'top', 'chatContributionAllowed': 'false',
       'changeRoleAllowed': 'false', 'noteContributionAllowed': 'true',
       'captionContributionAllowed': 'true', 'fileUploadAllowed': 'true',
       'surveyOpsAllowed': 'true', 'renameParticipantAllowed': 'self', 'allChatSave': 'true',
       'audioGainDb': '-30', 'loadPrediction': 'true'}
DTMF = {'lockCall': '*7', 'unlockCall': '*8', 'nextLayout': '*9', 'previousLayout': '*1',
        'muteSelfAudio': '*6', 'unmuteSelfAudio': '#6', 'toggleMuteSelfAudio': '**6',
        'muteAllExceptSelfAudio': '*5', 'unmuteAllExceptSelfAudio': '#5',
        'startRecording': '*2', 'stopRecording': '#2', 'startStreaming': '*3',
        'stopStreaming': '#3', 'allowAllMuteSelf': '*4', 'cancelAllowAllMuteSelf': '#4',
        'allowAllPresentationContribution': '*0', 'cancelAllowAllPresentationContribution': '#0',
        'muteAllNewAudio': '*11', 'unmuteAllNewAudio': '#11', 'defaultMuteAllNewAudio': '*12',
        'muteAllNewAndAllExceptSelfAudio': '*13', 'unmuteAllNewAndAllExceptSelfAudio': '#13',
        'endCall': '*99', 'getTotalParticipantCount': 'A1'}
SECURITY = {'name': 'Strict', 'minPasscodeLength': '12', 'allowOutOfPolicy': 'false'}
KINDS = [('callProfiles', 'callProfile', 'callProfileDoesNotExist', CALL),
         ('callLegProfiles', 'callLegProfile', 'callLegProfileDoesNotExist', LEG),
         ('dtmfProfiles', 'dtmfProfile', 'dtmfProfileDoesNotExist', DTMF),
         ('dialInSecurityProfiles', 'dialInSecurityProfile', 'dialInSecurityProfileDoesNotExist',
          SECURITY)]


@pytest.mark.parametrize('path, element, missing, full', KINDS)
def test_profile_lifecycle(c, path, element, missing, full):
    made = create(c, path, **full)
    assert get_object(c, path, made) == (element, full)
    first = next(iter(full))
    put_ok(c, f'{path}/{made}', **{first: ''})       # §8.4.3: an empty value unsets it
    got = get_object(c, path, made)[1]
    assert first not in got and len(got) == len(full) - 1
    assert c.delete(f'/{path}/{made}').status_code == 200
    for verb in ('get', 'put', 'delete'):
        assert refused(c, verb, f'{path}/{made}') == (404, ([missing], {}))
    assert refused(c, 'get', f'{path}/{"x" * 40}') == (404, ([missing], {}))
    assert refused(c, 'post', f'{path}/{made}') == (405, (['invalidOperation'], {}))


def test_defaults_on_create(c):
    call = create(c, 'callProfiles')   # §8.2.2: recordingMode, streamingMode "manual"
    assert get_object(c, 'callProfiles', call)[1] == {'recordingMode': 'manual',
                                                      'streamingMode': 'manual'}
    security = create(c, 'dialInSecurityProfiles')   # §14.3: allowOutOfPolicy "true"
    assert get_object(c, 'dialInSecurityProfiles', security)[1] == {'allowOutOfPolicy': 'true'}
    assert get_object(c, 'callLegProfiles', create(c, 'callLegProfiles'))[1] == {}
    assert get_object(c, 'dtmfProfiles', create(c, 'dtmfProfiles'))[1] == {}


@pytest.mark.parametrize('path, field, value, error', [
    ('callProfiles', 'passcodeMode', 'sometimes', 'invalidValue'),
    ('callProfiles', 'passcodeTimeout', '0', 'invalidValue'),
    ('callProfiles', 'passcodeTimeout', 'ten', 'invalidValue'),
    ('callProfiles', 'participantLimit', '-1', 'invalidValue'),
    ('callProfiles', 'recordingMode', 'Manual', 'invalidValue'),
    ('callProfiles', 'chatAllowed', 'yes', 'invalidValue'),
    ('callProfiles', 'logoFileName', 'l' * 129, 'valueTooLong'),
    ('callLegProfiles', 'audioPacketSizeMs', '25', 'invalidValue'),
    ('callLegProfiles', 'joinToneParticipantThreshold', '101', 'invalidValue'),
    ('callLegProfiles', 'audioGainDb', '15', 'invalidValue'),
    ('callLegProfiles', 'audioGainDb', '70', 'invalidValue'),
    ('callLegProfiles', 'rxAudioMute', 'on', 'invalidValue'),
    ('callLegProfiles', 'maxCallDurationTime', '0', 'invalidValue'),
    ('callLegProfiles', 'defaultLayout', 'grid', 'invalidValue'),
    ('callLegProfiles', 'name', 'n' * 201, 'valueTooLong'),
    ('dtmfProfiles', 'muteSelfAudio', '*x', 'invalidValue'),
    ('dtmfProfiles', 'endCall', '*' * 33, 'valueTooLong'),
    ('dialInSecurityProfiles', 'minPasscodeLength', '5', 'invalidValue'),
    ('dialInSecurityProfiles', 'minPasscodeLength', '64', 'invalidValue'),
    ('dialInSecurityProfiles', 'allowOutOfPolicy', 'maybe', 'invalidValue'),
])
def test_bad_values_are_parameter_errors(c, path, field, value, error):
    assert refused(c, 'post', path, **{field: value}) == (400, ([], {field: error}))
    made = create(c, path)
    assert refused(c, 'put', f'{path}/{made}', **{field: value}) == (400, ([], {field: error}))
    c.delete(f'/{path}/{made}')


def test_layout_template_is_an_object_we_do_not_have(c):
    assert refused(c, 'post', 'callLegProfiles', layoutTemplate='t1') == \
        (400, (['layoutTemplateDoesNotExist'], {}))


def test_collection_filter_paging_and_usage(c):
    made = [create(c, 'dialInSecurityProfiles', name=f'Usage {i:02}', minPasscodeLength='0')
            for i in range(5)]
    total, items = listing(c, 'dialInSecurityProfiles', filter='usage ')
    assert total == 5 and [i for i, _ in items] == made
    assert items[0][1] == {'name': 'Usage 00', 'minPasscodeLength': '0',
                           'allowOutOfPolicy': 'true'}
    total, items = listing(c, 'dialInSecurityProfiles', filter='usage ', offset='3', limit='1')
    assert total == 5 and [i for i, _ in items] == [made[3]]
    space = create(c, 'coSpaces', name='uses a profile', dialInSecurityProfile=made[1])
    method = create(c, f'coSpaces/{space}/accessMethods', dialInSecurityProfile=made[2])
    put_ok(c, 'system/profiles', dialInSecurityProfile=made[4])
    total, items = listing(c, 'dialInSecurityProfiles', filter='usage ',
                           usageFilter='referenced')
    assert total == 3 and [i for i, _ in items] == [made[1], made[2], made[4]]
    total, items = listing(c, 'dialInSecurityProfiles', filter='usage ',
                           usageFilter='unreferenced')
    assert total == 2 and [i for i, _ in items] == [made[0], made[3]]
    r = c.get('/dialInSecurityProfiles', params={'usageFilter': 'sometimes'})
    assert r.status_code == 400 and failure(r) == ([], {'usageFilter': 'invalidValue'})

    # deleting a profile in use is allowed (usageFilter is the check before); its links go
    for gone in made:
        assert c.delete(f'/dialInSecurityProfiles/{gone}').status_code == 200
    assert 'dialInSecurityProfile' not in get_object(c, 'coSpaces', space)[1]
    assert 'dialInSecurityProfile' not in \
        get_object(c, f'coSpaces/{space}/accessMethods', method)[1]
    assert 'dialInSecurityProfile' not in system(c)
    c.delete(f'/coSpaces/{space}')


def system(c) -> dict[str, str]:
    r = is_xml(c.get('/system/profiles'))
    assert r.status_code == 200, r.text
    from .cisco import fields, parsed
    root = parsed(r)
    assert root.tag == 'profiles'
    return fields(root)


def test_system_profiles(c):
    ids = {'callProfile': create(c, 'callProfiles'), 'callLegProfile': create(c, 'callLegProfiles'),
           'dtmfProfile': create(c, 'dtmfProfiles'),
           'dialInSecurityProfile': create(c, 'dialInSecurityProfiles')}
    put_ok(c, 'system/profiles', **ids, lobbyProfile='lobby-1', compatibilityProfile='cp-1')
    assert system(c) == {**ids, 'lobbyProfile': 'lobby-1', 'compatibilityProfile': 'cp-1'}
    put_ok(c, 'system/profiles', callProfile='')       # §10.5.2: empty unsets it
    assert 'callProfile' not in system(c)
    for name, reason in (('callProfile', 'callProfileDoesNotExist'),
                         ('callLegProfile', 'callLegProfileDoesNotExist'),
                         ('dtmfProfile', 'dtmfProfileDoesNotExist'),
                         ('dialInSecurityProfile', 'dialInSecurityProfileDoesNotExist'),
                         ('userProfile', 'userProfileDoesNotExist'),
                         ('ivrBrandingProfile', 'ivrBrandingProfileDoesNotExist'),
                         ('webBridgeProfile', 'webBridgeProfileDoesNotExist')):
        assert refused(c, 'put', 'system/profiles', **{name: 'no-such-id'}) == \
            (400, ([reason], {}))
    # §4.6 invalidOperation: "you attempted to POST to /api/v1/system/profiles"
    assert refused(c, 'post', 'system/profiles', callProfile=ids['callProfile']) == \
        (405, (['invalidOperation'], {}))
    assert refused(c, 'delete', 'system/profiles') == (405, (['invalidOperation'], {}))
    assert refused(c, 'get', 'system/profile') == (404, (['unrecognisedObject'], {}))
    put_ok(c, 'system/profiles', callLegProfile='', dtmfProfile='', dialInSecurityProfile='',
           lobbyProfile='', compatibilityProfile='')
    assert system(c) == {}


@pytest.mark.parametrize('name, reason', [
    ('callProfile', 'callProfileDoesNotExist'),
    ('callLegProfile', 'callLegProfileDoesNotExist'),
    ('dialInSecurityProfile', 'dialInSecurityProfileDoesNotExist')])
def test_cospaces_name_only_profiles_that_exist(c, name, reason):
    assert refused(c, 'post', 'coSpaces', **{name: 'no-such-id'}) == (400, ([reason], {}))
    space = create(c, 'coSpaces')
    assert refused(c, 'put', f'coSpaces/{space}', **{name: 'no-such-id'}) == \
        (400, ([reason], {}))
    if name != 'callProfile':   # an access method has no callProfile (§6.5)
        methods = f'coSpaces/{space}/accessMethods'
        assert refused(c, 'post', methods, **{name: 'no-such-id'}) == (400, ([reason], {}))
        method = create(c, methods)
        assert refused(c, 'put', f'{methods}/{method}', **{name: 'no-such-id'}) == \
            (400, ([reason], {}))
    c.delete(f'/coSpaces/{space}')


def test_passcode_too_short_for_the_inherited_min_length(c):
    ten = create(c, 'dialInSecurityProfiles', minPasscodeLength='10')
    twelve = create(c, 'dialInSecurityProfiles', minPasscodeLength='12')
    none = create(c, 'dialInSecurityProfiles', minPasscodeLength='0')
    put_ok(c, 'system/profiles', dialInSecurityProfile=ten)
    try:
        # global: 10
        assert refused(c, 'post', 'coSpaces', passcode='123456789') == \
            (400, (['passcodeTooShort'], {}))
        space = create(c, 'coSpaces', passcode='1234567890')
        # the coSpace's own profile overrides the global one
        put_ok(c, f'coSpaces/{space}', dialInSecurityProfile=none, passcode='12345678')
        methods = f'coSpaces/{space}/accessMethods'
        method = create(c, methods, passcode='87654321', uri='short.way')
        # the access method's own profile overrides the coSpace's
        assert refused(c, 'put', f'{methods}/{method}', dialInSecurityProfile=twelve,
                       passcode='98765432109') == (400, (['passcodeTooShort'], {}))
        put_ok(c, f'{methods}/{method}', dialInSecurityProfile=twelve)   # passcode unchanged
        assert get_object(c, methods, method)[1]['passcode'] == '87654321'   # §14.1.1: kept
        put_ok(c, f'{methods}/{method}', passcode='987654321098')
        # the coSpace's profile set in the same request counts
        assert refused(c, 'put', f'coSpaces/{space}', dialInSecurityProfile=twelve,
                       passcode='12345678901') == (400, (['passcodeTooShort'], {}))
        put_ok(c, f'coSpaces/{space}', passcode='')   # no passcode is always allowed
        c.delete(f'/coSpaces/{space}')
    finally:
        put_ok(c, 'system/profiles', dialInSecurityProfile='')


def test_call_leg_profile_trace_of_no_leg(c):
    leg = '0f4e7a9c-1111-4222-8333-944445555666'
    assert refused(c, 'get', f'callLegs/{leg}/callLegProfileTrace') == \
        (404, (['callLegDoesNotExist'], {}))
    assert refused(c, 'get', f'callLegs/{"x" * 40}/callLegProfileTrace') == \
        (404, (['callLegDoesNotExist'], {}))
    assert refused(c, 'put', f'callLegs/{leg}/callLegProfileTrace') == \
        (405, (['invalidOperation'], {}))
    assert refused(c, 'get', f'callLegs/{leg}/callLegProfileTraces') == \
        (404, (['unrecognisedObject'], {}))
