"""What a safety policy says about personal data in transcripts: the kinds found, and what is stored instead."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD_NUMBER = "card_number"
    IBAN = "iban"
    NATIONAL_ID = "national_id"
    ADDRESS = "address"


class PiiAction(StrEnum):
    KEEP = "keep"
    MASK = "mask"
    REDACT = "redact"
    HASH = "hash"
    PSEUDONYMIZE = "pseudonymize"


@dataclass(frozen=True, slots=True)
class PiiRule:
    kind: PiiKind
    action: PiiAction


@dataclass(frozen=True, slots=True)
class PiiHandling:
    default_action: PiiAction = PiiAction.MASK
    rules: tuple[PiiRule, ...] = ()

    def action_for(self, kind: PiiKind) -> PiiAction:
        return next((rule.action for rule in self.rules if rule.kind == kind), self.default_action)

    @property
    def keeps_everything(self) -> bool:
        return all(self.action_for(kind) == PiiAction.KEEP for kind in PiiKind)


# What every blueprint's default policy does, and what a call does while its persona's policy cannot be read:
# payment and identity numbers never stored, the rest masked down to their last characters.
DEFAULT_PII_HANDLING = PiiHandling(PiiAction.MASK, (PiiRule(PiiKind.CARD_NUMBER, PiiAction.REDACT),
                                                    PiiRule(PiiKind.IBAN, PiiAction.REDACT),
                                                    PiiRule(PiiKind.NATIONAL_ID, PiiAction.REDACT)))
