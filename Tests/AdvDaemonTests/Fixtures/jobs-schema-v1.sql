-- A job database as advd wrote it with schema v1 (before the submitted and recording-failed
-- states): the v1 tables exactly, GRDB's migration record, and jobs in several states. The store
-- must open it, migrate it and keep every job.
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES ('v1: jobs, epochs, results, events');
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner_uid INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '[]',          -- JSON array of strings
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'interrupted', 'succeeded', 'failed', 'cancelled')),
    manifest TEXT NOT NULL,
    source TEXT NOT NULL,                        -- 'advctl' or the spool file
    spool_key TEXT UNIQUE,                       -- device:inode:mtime:size:name of the spool file
    attempts INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL NOT NULL,                  -- seconds since 1970
    started_at REAL,
    finished_at REAL,
    error TEXT,
    progress TEXT,                               -- JSON JobProgress
    output_folder TEXT NOT NULL
);
CREATE INDEX jobs_queue ON jobs (state, priority DESC, id);
CREATE TABLE epochs (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    train_accuracy REAL NOT NULL,
    test_accuracy REAL NOT NULL,
    held_out_robust_accuracy REAL,
    learning_rate REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
CREATE TABLE results (
    job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    threat_model TEXT NOT NULL,
    examples INTEGER NOT NULL,
    clean_accuracy REAL NOT NULL,
    worst_case_robust_accuracy REAL NOT NULL
);
CREATE TABLE attack_results (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    robust_accuracy_after REAL NOT NULL,
    newly_broken INTEGER NOT NULL,
    PRIMARY KEY (job_id, position)
);
CREATE TABLE epsilon_results (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    epsilon REAL NOT NULL,
    robust_accuracy REAL NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    kind TEXT NOT NULL,                          -- 'state', 'warning', 'info'
    message TEXT NOT NULL
);
CREATE INDEX events_job ON events (job_id, id);
INSERT INTO jobs (id, name, owner_uid, priority, labels, state, manifest, source, spool_key, attempts, submitted_at, started_at, finished_at, error, progress, output_folder)
VALUES (1, 'done', 1000, 0, '["x"]', 'succeeded', 'name: done', 'advctl', NULL, 1, 1700000000, 1700000001, 1700000100, NULL, NULL, '/jobs/1'),
       (2, 'broken', 1000, 0, '[]', 'failed', 'name: broken', 'advctl', NULL, 1, 1700000000, 1700000001, 1700000002, 'no data', NULL, '/jobs/2'),
       (3, 'cut-off', 1000, 5, '[]', 'running', 'name: cut-off', 'spool/a.yaml', '1:2:3:4:a.yaml', 2, 1700000000, 1700000001, NULL, NULL, NULL, '/jobs/3'),
       (4, 'waiting', 1000, 0, '[]', 'queued', 'name: waiting', 'advctl', NULL, 0, 1700000000, NULL, NULL, NULL, NULL, '/jobs/4');
INSERT INTO epochs VALUES (1, 1, 0.5, 0.8, 0.7, NULL, 0.05, 1.0);
INSERT INTO results VALUES (1, 'L∞ ε = 0.1', 100, 0.9, 0.6);
INSERT INTO events (job_id, at, kind, message) VALUES (1, 1700000100, 'state', 'succeeded');
