"""Shared runtime of the Sparring services: settings, database, server bootstrap, interceptors."""
