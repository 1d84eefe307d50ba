"""Cisco profiles (CMS §8.2 callProfiles, §8.4 callLegProfiles, §8.8 dtmfProfiles, §14
dialInSecurityProfiles) and the global links (§10.5 system/profiles).

Rows carry the document's field names, every value the text the API accepted (numbers
too), None where unset, as store/dialrules.py keeps its rules (whose generic get, list and
update this store shares). `resolve_profiles` reads the hierarchy a way into a coSpace
inherits from (system/profiles, the coSpace, the access method, a dial-out's own
callLegProfile) and merges it with the pure
dialplan/confprofiles.py.

A profile may be deleted while objects name it (the document offers `usageFilter` as "a
useful check before deleting", no refusal): the delete unsets those links in the same
transaction, so no object names a profile that is gone.
"""
from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text, delete, func, select, update

from ..dialplan.confprofiles import (ACCESS_METHOD, CALL, CALL_LEG, COSPACE, DTMF, GLOBAL, LEG,
                                     LINKS, SECURITY, Level, Resolved, links, resolve)
from .cospaces import access_methods, cospaces
from .dialrules import DialRuleStore
from .schema import metadata

CALL_PROFILES = 'callProfiles'
CALL_LEG_PROFILES = 'callLegProfiles'
DTMF_PROFILES = 'dtmfProfiles'
SECURITY_PROFILES = 'dialInSecurityProfiles'
SYSTEM = 'system/profiles'
KIND_OF = {CALL: CALL_PROFILES, LEG: CALL_LEG_PROFILES, DTMF: DTMF_PROFILES,
           SECURITY: SECURITY_PROFILES}

FIELDS: dict[str, tuple[str, ...]] = {
    CALL_PROFILES: (   # §8.2.2
        'participantLimit', 'locked', 'recordingMode', 'lockMode', 'sipRecorderUri',
        'sipStreamerUri', 'streamingMode', 'passcodeMode', 'passcodeTimeout',
        'gatewayAudioCallOptimization', 'lyncConferenceMode', 'muteBehavior',
        'messageBannerText', 'chatAllowed', 'raiseHandEnabled', 'notesAllowed',
        'captionsAllowed', 'backgroundBlurAllowed', 'fileReceiveAllowed', 'logoFileName',
        'logoPosition', 'surveyAllowed', 'name'),
    CALL_LEG_PROFILES: (   # §8.4.3
        'needsActivation', 'defaultLayout', 'changeLayoutAllowed', 'participantLabels',
        'presentationDisplayMode', 'presentationContributionAllowed',
        'presentationViewingAllowed', 'endCallAllowed', 'disconnectOthersAllowed',
        'addParticipantAllowed', 'muteOthersAllowed', 'videoMuteOthersAllowed',
        'muteSelfAllowed', 'videoMuteSelfAllowed', 'joinToneParticipantThreshold',
        'leaveToneParticipantThreshold', 'videoMode', 'rxAudioMute', 'txAudioMute',
        'rxVideoMute', 'txVideoMute', 'sipMediaEncryption', 'audioPacketSizeMs',
        'deactivationMode', 'deactivationModeTime', 'telepresenceCallsAllowed',
        'sipPresentationChannelEnabled', 'bfcpMode', 'callLockAllowed', 'setImportanceAllowed',
        'allowAllMuteSelfAllowed', 'allowAllPresentationContributionAllowed',
        'changeJoinAudioMuteOverrideAllowed', 'recordingControlAllowed',
        'streamingControlAllowed', 'name', 'maxCallDurationTime', 'qualityMain',
        'qualityPresentation', 'participantCounter', 'controlRemoteCameraAllowed',
        'layoutTemplate', 'audioGainMode', 'meetingTitlePosition', 'chatContributionAllowed',
        'changeRoleAllowed', 'noteContributionAllowed', 'captionContributionAllowed',
        'fileUploadAllowed', 'surveyOpsAllowed', 'renameParticipantAllowed', 'allChatSave',
        'audioGainDb', 'loadPrediction'),
    DTMF_PROFILES: (   # §8.8.2
        'lockCall', 'unlockCall', 'nextLayout', 'previousLayout', 'muteSelfAudio',
        'unmuteSelfAudio', 'toggleMuteSelfAudio', 'muteAllExceptSelfAudio',
        'unmuteAllExceptSelfAudio', 'startRecording', 'stopRecording', 'startStreaming',
        'stopStreaming', 'allowAllMuteSelf', 'cancelAllowAllMuteSelf',
        'allowAllPresentationContribution', 'cancelAllowAllPresentationContribution',
        'muteAllNewAudio', 'unmuteAllNewAudio', 'defaultMuteAllNewAudio',
        'muteAllNewAndAllExceptSelfAudio', 'unmuteAllNewAndAllExceptSelfAudio', 'endCall',
        'getTotalParticipantCount'),
    SECURITY_PROFILES: ('name', 'minPasscodeLength', 'allowOutOfPolicy'),   # §14.3
    SYSTEM: ('callLegProfile', 'callProfile', 'dtmfProfile', 'userProfile', 'ivrBrandingProfile',
             'callBrandingProfile', 'compatibilityProfile', 'lobbyProfile',
             'dialInSecurityProfile', 'webBridgeProfile'),   # §10.5.2
}
TABLE_NAMES = {CALL_PROFILES: 'call_profiles', CALL_LEG_PROFILES: 'call_leg_profiles',
               DTMF_PROFILES: 'dtmf_profiles', SECURITY_PROFILES: 'dial_in_security_profiles',
               SYSTEM: 'system_profiles'}
SYSTEM_ID = 'system'   # the one row of system/profiles


def _table(kind: str) -> Table:
    return Table(TABLE_NAMES[kind], metadata,
                 Column('seq', Integer, primary_key=True, autoincrement=True),
                 Column('id', String(36), nullable=False, unique=True),
                 *[Column(name, Text, nullable=True) for name in FIELDS[kind]])


TABLES = {kind: _table(kind) for kind in FIELDS}
system_profiles = TABLES[SYSTEM]
# the objects that may name a profile of each kind (system/profiles, coSpaces, access methods)
_REFERRERS = [(t, link) for t in (system_profiles, cospaces, access_methods)
              for link in LINKS.values() if link in t.c]


class ProfileStore(DialRuleStore):
    tables = TABLES

    # --- system/profiles ---------------------------------------------------------------------
    async def system(self) -> dict:
        """The global links (every one None until set)."""
        row = await self.get(SYSTEM, SYSTEM_ID)
        return row or {name: None for name in FIELDS[SYSTEM]}

    async def set_system(self, changes: dict) -> None:
        async with self.db.write() as conn:
            got = await conn.execute(update(system_profiles)
                                     .where(system_profiles.c.id == SYSTEM_ID).values(**changes))
            if got.rowcount == 0:
                await conn.execute(system_profiles.insert().values(id=SYSTEM_ID, **changes))
        self._changed()

    # --- references ----------------------------------------------------------------------------
    def _link_of(self, kind: str) -> str:
        return next(link for k, link in LINKS.items() if KIND_OF[k] == kind)

    async def referenced(self, kind: str) -> set[str]:
        """The ids of `kind`'s profiles some object names (§8.2.1 usageFilter)."""
        link = self._link_of(kind)
        out: set[str] = set()
        async with self.db.engine.connect() as conn:
            for t, name in _REFERRERS:
                if name == link:
                    out |= set((await conn.execute(select(t.c[name]).where(
                        t.c[name].is_not(None)).distinct())).scalars().all())
        return out

    async def list(self, kind: str, *, usage: str | None = None, **kw) -> tuple[int, list[dict]]:
        """The generic list; `usage` 'referenced'/'unreferenced' keeps the profiles some
        object names / none names."""
        if usage is None:
            return await super().list(kind, **kw)
        ids = await self.referenced(kind)
        t = self.tables[kind]
        keep = t.c.id.in_(ids) if usage == 'referenced' else t.c.id.not_in(ids)
        return await super().list(kind, where=keep, **kw)

    async def delete(self, kind: str, row_id: str) -> bool:
        link = self._link_of(kind)
        t = self.tables[kind]
        async with self.db.write() as conn:
            done = await conn.execute(delete(t).where(t.c.id == row_id))
            if done.rowcount:
                for ref, name in _REFERRERS:
                    if name == link:
                        await conn.execute(update(ref).where(ref.c[name] == row_id)
                                           .values({name: None}))
        self._changed()
        return done.rowcount > 0

    async def exists(self, kind: str, row_id: str) -> bool:
        t = self.tables[kind]
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(t)
                                       .where(t.c.id == row_id))).scalar_one() > 0

    # --- inheritance -----------------------------------------------------------------------------
    async def resolve_profiles(self, cospace_id: str | None, access_method_id: str | None,
                               leg_profile: str | None = None) -> Resolved:
        """The profiles in force for a caller who came into the coSpace `cospace_id` by its
        access method `access_method_id` (None: by the coSpace's own URI or call ID), or
        for a leg dialled out with its own callLegProfile `leg_profile` (§8.1.6)."""
        async with self.db.engine.connect() as conn:
            space = await _one(conn, cospaces, cospace_id)
            method = await _one(conn, access_methods, access_method_id)
        return await self.resolve_rows(space, method, leg_profile)

    async def resolve_rows(self, space: dict | None, method: dict | None,
                           leg_profile: str | None = None) -> Resolved:
        """The same for a coSpace and access method as given (as they would be stored: the
        API checks a passcode against the policy a write is about to make)."""
        system = await self.system()
        chain = [(GLOBAL, links(GLOBAL, system)), (COSPACE, links(COSPACE, space)),
                 (ACCESS_METHOD, links(ACCESS_METHOD, method)),
                 (CALL_LEG, links(CALL_LEG, {LINKS[LEG]: leg_profile}))]
        wanted = {(kind, pid) for _, named in chain for kind, pid in named.items()}
        rows: dict[tuple[str, str], dict] = {}
        async with self.db.engine.connect() as conn:
            for kind in {k for k, _ in wanted}:
                t = self.tables[KIND_OF[kind]]
                ids = [pid for k, pid in wanted if k == kind]
                for r in (await conn.execute(select(t).where(t.c.id.in_(ids)))).mappings():
                    rows[(kind, r['id'])] = {k: v for k, v in r.items() if k != 'seq'}
        return resolve(Level(scope, {kind: (pid, rows.get((kind, pid)))
                                     for kind, pid in named.items()})
                       for scope, named in chain)


async def _one(conn, table: Table, row_id: str | None) -> dict | None:
    if not row_id:
        return None
    got = (await conn.execute(select(table).where(table.c.id == row_id))).mappings().first()
    return dict(got) if got is not None else None

