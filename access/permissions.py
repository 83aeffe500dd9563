"""Who may call what: the one permission table of every RPC of the four services.

The table says which roles may call a method at all; admins may call every method, within their own
organization. What a role may do to one resource (an author changes the personas it owns, an interviewer
its own sessions, a gateway the sessions it is assigned; a protected persona needs an admin) is checked by
the service that holds the resource, and the note of each rule says so. The README's permission table is
rendered from this one (``markdown_table``), and a test keeps the two equal.
"""

from __future__ import annotations

from svckit.guard import MethodRule

ADMIN = "admin"
AUTHOR = "author"
INTERVIEWER = "interviewer"
GATEWAY = "gateway"
ANALYST = "analyst"
SERVICE = "service"
ROLES = (ADMIN, AUTHOR, INTERVIEWER, GATEWAY, ANALYST, SERVICE)

_PERSONA = "/sparring.persona.v1.PersonaService/"
_MEMORY = "/sparring.persona.v1.MemoryService/"
_VOICE_AGENTS = "/sparring.persona.v1.VoiceAgentService/"
_SAFETY_POLICY = "/sparring.persona.v1.SafetyPolicyService/"
_TRANSCRIPT = "/sparring.transcript.v1.TranscriptService/"
_HANDOFF = "/sparring.transcript.v1.HandoffService/"
_APPROVAL = "/sparring.transcript.v1.ApprovalService/"
_GUARDRAIL_CHECK = "/sparring.transcript.v1.GuardrailCheckService/"
_ANALYSIS = "/sparring.analysis.v1.AnalysisService/"
_SWITCHING = "/sparring.analysis.v1.SwitchingRuleService/"
_LEARNING = "/sparring.learning.v1.LearningService/"
_AUDIT_LOG = "/sparring.auditlog.v1.AuditLogService/"


def _rule(*roles: str, mutating: bool = False, costly: bool = False, note: str = "") -> MethodRule:
    return MethodRule(roles=frozenset((ADMIN, *roles)), mutating=mutating, costly=costly, note=note)


_CATALOGUE_READERS = (AUTHOR, INTERVIEWER, ANALYST, SERVICE)
_AUTHORING = _rule(AUTHOR, mutating=True, note="authors: only what they own; a protected persona: admins only")
_CATALOGUE_READ = _rule(*_CATALOGUE_READERS)
_POLICY_CHANGE = "authors: of the personas they own; a protected persona or the organization's default: admins only"
_SESSION_READ = _rule(INTERVIEWER, GATEWAY, SERVICE, note="interviewers and gateways: only their own sessions")
_ANALYTICS_READ = _rule(INTERVIEWER, ANALYST, SERVICE, note="interviewers: only their own sessions")
_LEARNING_READ = _rule(AUTHOR, ANALYST)
_ADMIN_ONLY_CHANGE = _rule(mutating=True)
_APPROVAL_DECISION = _rule(AUTHOR, INTERVIEWER, ANALYST, mutating=True,
                           note="the persona's owners, or a role its safety policy names in approver_roles; "
                                "never the requester")
_MEMORY_READ = _rule(INTERVIEWER, ANALYST, SERVICE)
_MEMORY_CHANGE = _rule(INTERVIEWER, SERVICE, mutating=True)

PERMISSIONS: dict[str, MethodRule] = {
    # Persona catalogue
    _PERSONA + "GetPersona": _rule(*_CATALOGUE_READERS, GATEWAY),
    _PERSONA + "ListPersonas": _CATALOGUE_READ,
    _PERSONA + "SearchPersonas": _CATALOGUE_READ,
    _PERSONA + "CreatePersona": _rule(AUTHOR, mutating=True, note="the author becomes its owner; "
                                                                  "a protected persona: admins only"),
    _PERSONA + "UpdatePersona": _AUTHORING,
    _PERSONA + "DeletePersona": _AUTHORING,
    _PERSONA + "UndeletePersona": _AUTHORING,
    _PERSONA + "RollbackPersona": _AUTHORING,
    _PERSONA + "RecordVariantPromotion": _rule(SERVICE, mutating=True, note="the learning service, when an "
                                                                            "experiment promotes a variant"),
    _PERSONA + "GetPersonaVersion": _CATALOGUE_READ,
    _PERSONA + "ListPersonaVersions": _CATALOGUE_READ,
    _PERSONA + "RenderPrompt": _rule(*_CATALOGUE_READERS, GATEWAY, costly=True,
                                     note="candidate_patches, withheld_patches: admins and the learning service "
                                          "(service:learning) only"),
    _PERSONA + "GetScenario": _CATALOGUE_READ,
    _PERSONA + "ListScenarios": _CATALOGUE_READ,
    _PERSONA + "CreateScenario": _rule(AUTHOR, mutating=True, note="the author becomes its owner"),
    _PERSONA + "UpdateScenario": _AUTHORING,
    _PERSONA + "DeleteScenario": _AUTHORING,
    _PERSONA + "GetArchetype": _CATALOGUE_READ,
    _PERSONA + "ListArchetypes": _CATALOGUE_READ,
    _PERSONA + "CreateArchetype": _rule(AUTHOR, mutating=True),
    # Personas' working memory of candidates
    _MEMORY + "GetWorkingMemory": _MEMORY_READ,
    _MEMORY + "UpdateWorkingMemory": _MEMORY_CHANGE,
    _MEMORY + "ClearWorkingMemory": _MEMORY_CHANGE,
    _MEMORY + "ListWorkingMemoryRevisions": _MEMORY_READ,
    _MEMORY + "RestoreWorkingMemory": _MEMORY_CHANGE,
    _MEMORY + "RecordSessionFacts": _rule(SERVICE, mutating=True),
    _MEMORY + "ListFacts": _MEMORY_READ,
    _MEMORY + "RecallEpisodes": _MEMORY_READ,
    _MEMORY + "GetEpisode": _MEMORY_READ,
    _MEMORY + "RecordEpisodeReview": _rule(SERVICE, mutating=True, note="the analysis service, after its audit"),
    _MEMORY + "GetMemorySettings": _CATALOGUE_READ,
    _MEMORY + "UpdateMemorySettings": _AUTHORING,
    _MEMORY + "EraseCandidateMemory": _rule(mutating=True, note="everything remembered of a candidate"),
    # Voice agents: provisioned for the transcript service at round start, read by self-hosted gateways
    _VOICE_AGENTS + "ProvisionVoiceAgent": _rule(SERVICE, mutating=True, costly=True,
                                                 note="may create an agent at a voice provider"),
    _VOICE_AGENTS + "GetVoiceAgent": _rule(GATEWAY, SERVICE),
    # Safety policies of personas and organizations
    _SAFETY_POLICY + "GetSafetyPolicy": _CATALOGUE_READ,
    _SAFETY_POLICY + "UpdateSafetyPolicy": _rule(AUTHOR, mutating=True, note=_POLICY_CHANGE),
    _SAFETY_POLICY + "ListSafetyPolicyVersions": _CATALOGUE_READ,
    _SAFETY_POLICY + "RollbackSafetyPolicy": _rule(AUTHOR, mutating=True, note=_POLICY_CHANGE),
    # Sessions and their live transcripts
    _TRANSCRIPT + "CreateSession": _rule(INTERVIEWER, mutating=True, note="the caller becomes its interviewer"),
    _TRANSCRIPT + "GetSession": _SESSION_READ,
    _TRANSCRIPT + "ListSessions": _rule(INTERVIEWER, GATEWAY, note="interviewers and gateways: only their own"),
    _TRANSCRIPT + "EndSession": _rule(INTERVIEWER, GATEWAY, mutating=True,
                                      note="interviewers and gateways: only their own sessions"),
    _TRANSCRIPT + "StreamSession": _rule(GATEWAY, costly=True, note="gateways: only the sessions they are assigned"),
    _TRANSCRIPT + "GetMessage": _SESSION_READ,
    _TRANSCRIPT + "ListMessages": _SESSION_READ,
    _TRANSCRIPT + "SendCommand": _rule(INTERVIEWER, SERVICE, mutating=True,
                                       note="interviewers: only their own sessions"),
    _TRANSCRIPT + "GetCommand": _SESSION_READ,
    _TRANSCRIPT + "ListCommands": _SESSION_READ,
    # Approvals of commands the persona's safety policy holds
    _APPROVAL + "GetApproval": _rule(INTERVIEWER, SERVICE, note="interviewers: only their own sessions"),
    _APPROVAL + "ListApprovals": _rule(INTERVIEWER, AUTHOR, ANALYST, SERVICE,
                                       note="a session's: its participants; a queue's: a role the approval's "
                                            "persona's policy names in approver_roles"),
    _APPROVAL + "WatchApprovals": _rule(INTERVIEWER, SERVICE, note="interviewers: only their own sessions"),
    _APPROVAL + "ApproveApproval": _APPROVAL_DECISION,
    _APPROVAL + "RejectApproval": _APPROVAL_DECISION,
    # The log of every guardrail check of live calls
    _GUARDRAIL_CHECK + "ListGuardrailChecks": _rule(INTERVIEWER, AUTHOR, note="a session's: its interviewer and "
                                                                             "its persona's owners; a persona's: "
                                                                             "its owners"),
    _GUARDRAIL_CHECK + "RecordInputFilterFindings": _rule(SERVICE, mutating=True,
                                                          note="the analysis service, of its readings' findings"),
    _TRANSCRIPT + "ForgetCandidate": _rule(SERVICE, mutating=True, note="when a candidate's memory is erased"),
    _TRANSCRIPT + "StartVoiceRound": _rule(INTERVIEWER, GATEWAY, mutating=True, costly=True,
                                           note="interviewers and gateways: only their own sessions"),
    _TRANSCRIPT + "GetVoiceRound": _SESSION_READ,
    _TRANSCRIPT + "ListVoiceRounds": _SESSION_READ,
    _TRANSCRIPT + "EndVoiceRound": _rule(INTERVIEWER, GATEWAY, mutating=True,
                                         note="interviewers and gateways: only their own sessions"),
    _HANDOFF + "StartHandoff": _rule(INTERVIEWER, SERVICE, mutating=True, costly=True,
                                     note="interviewers: only their own sessions"),
    _HANDOFF + "GetHandoff": _SESSION_READ,
    _HANDOFF + "ListHandoffs": _SESSION_READ,
    # Switching rules (the analysis service evaluates them on live calls)
    _SWITCHING + "CreateSwitchingRule": _rule(AUTHOR, mutating=True),
    _SWITCHING + "GetSwitchingRule": _CATALOGUE_READ,
    _SWITCHING + "ListSwitchingRules": _CATALOGUE_READ,
    _SWITCHING + "DeleteSwitchingRule": _rule(AUTHOR, mutating=True),
    # Live analysis and audits
    _ANALYSIS + "RequestAnalysis": _rule(INTERVIEWER, SERVICE, mutating=True, costly=True,
                                         note="interviewers: only their own sessions; a window: the transcript "
                                              "service only"),
    _ANALYSIS + "GetAnalysis": _ANALYTICS_READ,
    _ANALYSIS + "ListAnalyses": _ANALYTICS_READ,
    _ANALYSIS + "GetSessionSnapshot": _ANALYTICS_READ,
    _ANALYSIS + "WatchSession": _rule(INTERVIEWER, note="interviewers: only their own sessions"),
    _ANALYSIS + "GetSuggestion": _ANALYTICS_READ,
    _ANALYSIS + "ListSuggestions": _ANALYTICS_READ,
    _ANALYSIS + "ApplySuggestion": _rule(INTERVIEWER, mutating=True, note="interviewers: only their own sessions"),
    _ANALYSIS + "DismissSuggestion": _rule(INTERVIEWER, mutating=True, note="interviewers: only their own sessions"),
    _ANALYSIS + "AuditSession": _rule(SERVICE, mutating=True),
    _ANALYSIS + "RecordSessionRisk": _rule(SERVICE, mutating=True, note="the transcript service, as its guardrail "
                                                                        "checks add to a session's risk"),
    _ANALYSIS + "GetPersonaAudit": _rule(AUTHOR, ANALYST, SERVICE),
    _ANALYSIS + "ListPersonaAudits": _rule(AUTHOR, ANALYST, SERVICE),
    # Learning: the audit corpus, evolution, patches, feedback, runs, experiments
    _LEARNING + "RecordCorpusAudit": _rule(SERVICE, mutating=True),
    _LEARNING + "GetCorpusAudit": _LEARNING_READ,
    _LEARNING + "ListCorpusAudits": _LEARNING_READ,
    _LEARNING + "CreateEvolutionRun": _rule(AUTHOR, mutating=True, costly=True),
    _LEARNING + "GetEvolutionRun": _LEARNING_READ,
    _LEARNING + "ListEvolutionRuns": _LEARNING_READ,
    _LEARNING + "CreatePromptPatch": _rule(AUTHOR, mutating=True),
    _LEARNING + "GetPromptPatch": _LEARNING_READ,
    _LEARNING + "ListPromptPatches": _LEARNING_READ,
    _LEARNING + "ApprovePromptPatch": _ADMIN_ONLY_CHANGE,
    _LEARNING + "RejectPromptPatch": _ADMIN_ONLY_CHANGE,
    _LEARNING + "DeactivatePromptPatch": _ADMIN_ONLY_CHANGE,
    _LEARNING + "RollbackPromptPatch": _ADMIN_ONLY_CHANGE,
    _LEARNING + "ListPromptPatchRevisions": _LEARNING_READ,
    _LEARNING + "ListActivePatches": _rule(AUTHOR, SERVICE),
    _LEARNING + "RecordFeedback": _rule(INTERVIEWER, ANALYST, mutating=True),
    _LEARNING + "GetFeedback": _rule(INTERVIEWER, ANALYST),
    _LEARNING + "ListTrainingEvents": _rule(ANALYST),
    _LEARNING + "CreateLearningRun": _rule(mutating=True, costly=True),
    _LEARNING + "GetLearningRun": _LEARNING_READ,
    _LEARNING + "ListLearningRuns": _LEARNING_READ,
    _LEARNING + "CreateExperiment": _rule(AUTHOR, mutating=True),
    _LEARNING + "GetExperiment": _LEARNING_READ,
    _LEARNING + "ListExperiments": _rule(AUTHOR, ANALYST, SERVICE, note="services: the running experiment of a new "
                                                                     "session's persona"),
    _LEARNING + "AssignVariant": _rule(INTERVIEWER, SERVICE, mutating=True),
    _LEARNING + "RecordExperimentOutcome": _rule(INTERVIEWER, SERVICE, mutating=True),
    _LEARNING + "StopExperiment": _ADMIN_ONLY_CHANGE,
    # Every service's audit log: admins only, of their own organization
    _AUDIT_LOG + "ListAuditLogEntries": _rule(),
}


def markdown_table() -> str:
    """The table as the README shows it: one row per RPC, one column per role."""
    lines = ["| RPC | " + " | ".join(ROLES) + " | notes |", "|---|" + "---|" * len(ROLES) + "---|"]
    for method, rule in PERMISSIONS.items():
        service, _, name = method.lstrip("/").rpartition("/")
        cells = ["✓" if role in rule.roles else "" for role in ROLES]
        flags = [flag for flag, on in (("changes data", rule.mutating), ("rate limited", rule.costly)) if on]
        notes = "; ".join([*flags, rule.note] if rule.note else flags)
        lines.append(f"| `{service.split('.')[1]}.{name}` | " + " | ".join(cells) + f" | {notes} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # the README's table: python -m access.permissions
    print(markdown_table(), end="")
