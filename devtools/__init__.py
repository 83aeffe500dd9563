"""Developer tools, not part of any service: the launcher behind `make run`, the live demo (`make demo`), the
closed learning loop (`make loop`), the StreamSession client they play calls with, and where each service
listens."""
