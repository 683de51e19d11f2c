"""The alert store's schema, as numbered migrations (see :mod:`villagewatch.db.migrations`).

A partial unique index allows one open alert per identity; the ids of applied
transitions are kept, so a redelivered transition and a racing second writer
both find the work done; the audit log refuses updates and deletes (triggers).
Migration 1 is the schema of the releases before versions were kept — never
edit it: a change is a new migration at the end.
"""

from __future__ import annotations

from villagewatch.db.migrations import Migration

__all__ = ["MIGRATIONS"]

MIGRATIONS = (
    Migration(
        "alerts, their audit log, notes, the transitions feed, notifications and silences",
        """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, detector TEXT NOT NULL, village TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, state TEXT NOT NULL,
    message TEXT NOT NULL, details TEXT NOT NULL, historical INTEGER NOT NULL,
    needs_close INTEGER NOT NULL, condition_cleared INTEGER NOT NULL,
    started_ms INTEGER NOT NULL, opened_ms INTEGER NOT NULL, pending_until_ms INTEGER,
    fired_ms INTEGER, acknowledged_ms INTEGER, acknowledged_by TEXT,
    resolved_ms INTEGER, resolved_by TEXT, assignee TEXT, updated_ms INTEGER NOT NULL,
    place TEXT NOT NULL, escalation_level INTEGER NOT NULL DEFAULT 0,
    next_escalation_ms INTEGER, flapping INTEGER NOT NULL DEFAULT 0, quiet_until_ms INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_pending ON alerts (pending_until_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS alerts_key_opened ON alerts (key, opened_ms);
CREATE INDEX IF NOT EXISTS alerts_open_detector ON alerts (village, detector)
    WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_escalation ON alerts (next_escalation_ms)
    WHERE state = 'firing';
CREATE INDEX IF NOT EXISTS alerts_fired ON alerts (fired_ms);
CREATE TABLE IF NOT EXISTS alert_audit (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_audit_alert ON alert_audit (alert_id);
CREATE TRIGGER IF NOT EXISTS alert_audit_no_update BEFORE UPDATE ON alert_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS alert_audit_no_delete BEFORE DELETE ON alert_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS alert_notes (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at_ms INTEGER NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_transitions (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feed_cursors (source TEXT PRIMARY KEY, position INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_transitions (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, position INTEGER NOT NULL,
    transition_id TEXT NOT NULL, detail TEXT NOT NULL, at_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id),
    channel TEXT NOT NULL, place TEXT NOT NULL, level INTEGER NOT NULL, event TEXT NOT NULL,
    group_key TEXT NOT NULL, severity TEXT NOT NULL, text TEXT NOT NULL, state TEXT NOT NULL,
    created_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL, sent_ms INTEGER, error TEXT
);
CREATE INDEX IF NOT EXISTS notifications_queued ON notifications (next_ms) WHERE state = 'queued';
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL, created_by TEXT NOT NULL, reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
""",
    ),
    Migration(
        "silences: recurring windows in local time, and ending one early",
        # SQLite cannot drop NOT NULL from a column: the table is made anew and its rows
        # copied (nothing refers to a silence). ends_ms NULL: a recurring silence nobody ended.
        """
CREATE TABLE silences_new (
    id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_ms INTEGER NOT NULL,
    ends_ms INTEGER, created_by TEXT NOT NULL, reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL, recurrence TEXT, ended_by TEXT
);
INSERT INTO silences_new (id, matchers, starts_ms, ends_ms, created_by, reason, created_ms)
    SELECT id, matchers, starts_ms, ends_ms, created_by, reason, created_ms FROM silences;
DROP TABLE silences;
ALTER TABLE silences_new RENAME TO silences;
""",
    ),
    Migration(
        "alerts: the reason a person gave for resolving one",
        # NULL: resolved by the system, or by a person before reasons were kept
        "ALTER TABLE alerts ADD COLUMN resolution TEXT;",
    ),
    Migration(
        "alerts carry their message key and parameters, rendered in each reader's language",
        # Older rows keep '' and '{}': they show their stored message. A notification's title
        # is its digest's, in its channel's language, with {count} filled when it is sent.
        """
ALTER TABLE alerts ADD COLUMN message_key TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
ALTER TABLE notifications ADD COLUMN title TEXT NOT NULL DEFAULT '';
""",
    ),
)
"""The schema, migration 1 first."""
