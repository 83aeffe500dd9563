"""Guardrails of live calls shared by the services that apply them: personal data in transcripts, content filters."""
