"""A conversation's token budget (a policy's ``rate_limits.tokens_per_conversation``).

A token is a word of the persona's or the candidate's turns as stored (whitespace-separated, as each message's
``word_count``): the transcript service knows no model's tokenizer, and words are what it already counts; a word of
English is about 1.3 tokens of the usual wordpiece tokenizers, so a budget set in model tokens is kept with room.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBudget:
    limit: int  # 0: no limit
    spent: int

    @property
    def exceeded(self) -> bool:
        return bool(self.limit) and self.spent > self.limit

    def spend(self, words: int) -> bool:
        """Counts ``words`` more; whether they took the conversation past its limit (within it before)."""
        within = not self.exceeded
        self.spent += words
        return within and self.exceeded
