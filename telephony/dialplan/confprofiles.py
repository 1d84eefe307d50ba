"""Cisco profiles and their inheritance (CMS §8.2 call profiles, §8.4 call leg profiles, §8.8
DTMF profiles, §14 dial-in security profiles, §10.5 the global ones under system/profiles).

A coSpace call's profiles come from a hierarchy: the global profile (`system/profiles`), the
coSpace's, the access method the caller came in by, the leg's own. For each parameter the
lowest level that sets it wins (§8.4.7: "the end result for each parameter is the lowest
level's override"); unset everywhere, the document's default applies (`effective`). The
trace says which level set what (GET /callLegs/<id>/callLegProfileTrace).

Pure: the store hands in the profiles' rows (the document's field names, string values as
stored, None or '' unset), top of the hierarchy first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

# the four kinds and the parameter that links an object to a profile of each
CALL, LEG, DTMF, SECURITY = 'call', 'leg', 'dtmf', 'security'
LINKS = {CALL: 'callProfile', LEG: 'callLegProfile', DTMF: 'dtmfProfile',
         SECURITY: 'dialInSecurityProfile'}
# §8.4.7's scopes, the ones we have, top first
GLOBAL, COSPACE, ACCESS_METHOD, CALL_LEG = 'global', 'coSpace', 'accessMethod', 'callLeg'
SCOPES = (GLOBAL, COSPACE, ACCESS_METHOD, CALL_LEG)
# what each level may name (a coSpace has no dtmfProfile, an access method no callProfile;
# a leg only the callLegProfile a dial-out was given, §8.1.6)
LEVEL_LINKS = {GLOBAL: (CALL, LEG, DTMF, SECURITY), COSPACE: (CALL, LEG, SECURITY),
               ACCESS_METHOD: (LEG, SECURITY), CALL_LEG: (LEG,)}

# the document's "if unset at all levels" values; a parameter without one stays unset
DEFAULTS: dict[str, dict[str, str]] = {
    CALL: {'recordingMode': 'manual', 'streamingMode': 'manual', 'passcodeMode': 'required',
           'chatAllowed': 'true', 'raiseHandEnabled': 'true', 'notesAllowed': 'false',
           'captionsAllowed': 'false', 'backgroundBlurAllowed': 'false',
           'fileReceiveAllowed': 'false', 'surveyAllowed': 'false', 'logoPosition': 'leftTop'},
    LEG: {'audioPacketSizeMs': '20', 'chatContributionAllowed': 'true',
          'noteContributionAllowed': 'false', 'captionContributionAllowed': 'false',
          'fileUploadAllowed': 'false', 'surveyOpsAllowed': 'false',
          'renameParticipantAllowed': 'none', 'allChatSave': 'false', 'loadPrediction': 'false',
          'meetingTitlePosition': 'bottom', 'qualityMain': 'unrestricted',
          'qualityPresentation': 'unrestricted'},
    DTMF: {},
    SECURITY: {'minPasscodeLength': '0', 'allowOutOfPolicy': 'true'},   # §14.1.1
}
NOT_INHERITED = frozenset({'name'})   # a profile's label, not a behaviour


@dataclass(frozen=True)
class TraceStep:
    """One level's contribution: the profile of `kind` it named (`id`; None for a leg's
    own settings) and the parameters that profile set."""
    scope: str
    kind: str
    id: str | None
    applied: dict[str, str]


@dataclass(frozen=True)
class Resolved:
    """A way into a coSpace's profiles: per kind the parameters some level set (the lowest
    level's value), and how they were arrived at."""
    call: dict[str, str] = field(default_factory=dict)
    leg: dict[str, str] = field(default_factory=dict)
    dtmf: dict[str, str] = field(default_factory=dict)
    security: dict[str, str] = field(default_factory=dict)
    trace: tuple[TraceStep, ...] = ()

    def effective(self, kind: str, name: str) -> str | None:
        """The parameter's value, the document's default where no level set it."""
        return getattr(self, kind).get(name, DEFAULTS[kind].get(name))


@dataclass(frozen=True)
class Level:
    """One level of the hierarchy as the store read it: per kind, the id of the profile
    it names and that profile's row (None when the level names none or it is gone)."""
    scope: str
    profiles: dict[str, tuple[str, dict | None]]


def _set(row: dict) -> dict[str, str]:
    return {k: str(v) for k, v in row.items()
            if v is not None and v != '' and k not in NOT_INHERITED and k != 'id'}


def resolve(levels: Iterable[Level]) -> Resolved:
    """Merge the levels, top first: each one's set parameters override those above."""
    merged: dict[str, dict[str, str]] = {kind: {} for kind in LINKS}
    trace: list[TraceStep] = []
    for level in levels:
        if level.scope not in SCOPES:
            raise ValueError(f'unknown scope {level.scope}')
        for kind, (profile_id, row) in level.profiles.items():
            if row is None:
                continue
            applied = _set(row)
            merged[kind].update(applied)
            trace.append(TraceStep(level.scope, kind, profile_id, applied))
    return Resolved(merged[CALL], merged[LEG], merged[DTMF], merged[SECURITY], tuple(trace))


def links(scope: str, row: dict | None) -> dict[str, str]:
    """The profile ids a level's row (system/profiles, a coSpace, an access method, a leg's
    own `{'callLegProfile': id}`) names."""
    if row is None:
        return {}
    return {kind: row[LINKS[kind]] for kind in LEVEL_LINKS[scope] if row.get(LINKS[kind])}


# --- the dial-in policy these profiles set -----------------------------------------------------

@dataclass(frozen=True)
class PasscodePolicy:
    """§8.2.2 passcodeMode/passcodeTimeout and §14 minPasscodeLength/allowOutOfPolicy."""
    timeout_mode: bool = False        # passcodeMode timeout: no key for `timeout` = empty code
    timeout: float | None = None      # passcodeTimeout, seconds (None: the IVR's own wait)
    min_length: int = 0               # minPasscodeLength; 0: no length enforced
    allow_out_of_policy: bool = True  # a stored passcode shorter than min_length still works

    @classmethod
    def from_resolved(cls, r: Resolved) -> 'PasscodePolicy':
        seconds = r.effective(CALL, 'passcodeTimeout')
        return cls(timeout_mode=r.effective(CALL, 'passcodeMode') == 'timeout',
                   timeout=float(seconds) if seconds else None,
                   min_length=int(r.effective(SECURITY, 'minPasscodeLength') or 0),
                   allow_out_of_policy=r.effective(SECURITY, 'allowOutOfPolicy') != 'false')

    def too_short(self, passcode: str) -> bool:
        """A passcode being set that the policy refuses (§4.6 passcodeTooShort): an empty
        one is no passcode and is always allowed."""
        return bool(passcode) and len(passcode) < self.min_length

    def usable(self, passcode: str) -> bool:
        """A stored passcode a caller may join with: one set before the policy and shorter
        than it works only while allowOutOfPolicy is true (§14.2)."""
        return self.allow_out_of_policy or not self.too_short(passcode)
