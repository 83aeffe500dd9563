"""Tables of the learning schema that the repositories build queries on."""

from __future__ import annotations

import sqlalchemy as sa

from svckit.db import request_log_table

REQUEST_LOG = request_log_table(sa.MetaData(schema="learning"), per_organization=True)
