import GRDB

/// The job database's schema, as numbered migrations: a database written by an older advd is brought
/// up to date at start, and a migration never changes once released (add a new one instead).
enum JobStoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs, epochs, results, events") { db in
            try db.execute(sql: """
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
                """)
        }
        // The life cycle gained `submitted` (a job an executor holds) and `recording-failed`. SQLite
        // cannot change a CHECK constraint, so the table is rebuilt (foreign keys are off during
        // migrations; the tables that reference jobs keep referring to it by name).
        migrator.registerMigration("v2: submitted and recording-failed states") { db in
            try db.execute(sql: """
                CREATE TABLE jobs_v2 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    owner_uid INTEGER NOT NULL,
                    priority INTEGER NOT NULL DEFAULT 0,
                    labels TEXT NOT NULL DEFAULT '[]',
                    state TEXT NOT NULL CHECK (state IN ('queued', 'submitted', 'running', 'interrupted', 'succeeded', 'failed',
                                                         'cancelled', 'recording-failed')),
                    manifest TEXT NOT NULL,
                    source TEXT NOT NULL,
                    spool_key TEXT UNIQUE,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    submitted_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    error TEXT,
                    progress TEXT,
                    output_folder TEXT NOT NULL
                );
                INSERT INTO jobs_v2 SELECT id, name, owner_uid, priority, labels, state, manifest, source, spool_key, attempts,
                    submitted_at, started_at, finished_at, error, progress, output_folder FROM jobs;
                DROP TABLE jobs;
                ALTER TABLE jobs_v2 RENAME TO jobs;
                CREATE INDEX jobs_queue ON jobs (state, priority DESC, id);
                """)
        }
        // Sanity-check warnings keep their evidence and suggestion (v2 kept only "check: message" as
        // an event). Warnings stored before stay in the events.
        migrator.registerMigration("v3: warnings") { db in
            try db.execute(sql: """
                CREATE TABLE warnings (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    check_name TEXT NOT NULL,
                    message TEXT NOT NULL,
                    evidence TEXT NOT NULL,
                    suggestion TEXT NOT NULL,
                    PRIMARY KEY (job_id, position)
                );
                """)
        }
        // Per-epoch clean accuracy is measured on a validation split carved from the training data
        // (never on test data) and is absent when a run has none. Rows kept from before were measured
        // on test images; they keep their values under the new name.
        migrator.registerMigration("v4: validation accuracy") { db in
            try db.execute(sql: """
                CREATE TABLE epochs_v4 (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    epoch INTEGER NOT NULL,
                    train_loss REAL NOT NULL,
                    train_accuracy REAL NOT NULL,
                    validation_accuracy REAL,
                    held_out_robust_accuracy REAL,
                    learning_rate REAL NOT NULL,
                    seconds REAL NOT NULL,
                    PRIMARY KEY (job_id, epoch)
                );
                INSERT INTO epochs_v4 SELECT job_id, epoch, train_loss, train_accuracy, test_accuracy,
                    held_out_robust_accuracy, learning_rate, seconds FROM epochs;
                DROP TABLE epochs;
                ALTER TABLE epochs_v4 RENAME TO epochs;
                """)
        }
        // A cluster executor (Slurm) holds jobs: its job id, partition, node and last-seen state are
        // kept with the job, so a restarted daemon adopts them and `advctl show` names them. A sweep's
        // jobs share a group.
        migrator.registerMigration("v5: cluster placement and sweep groups") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN cluster_executor TEXT;
                ALTER TABLE jobs ADD COLUMN cluster_job_id TEXT;
                ALTER TABLE jobs ADD COLUMN cluster_partition TEXT;
                ALTER TABLE jobs ADD COLUMN cluster_node TEXT;
                ALTER TABLE jobs ADD COLUMN cluster_state TEXT;
                ALTER TABLE jobs ADD COLUMN cluster_submissions INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE jobs ADD COLUMN sweep_group TEXT;
                ALTER TABLE jobs ADD COLUMN sweep_point TEXT;                -- JSON [{key, value}], the job's values in its sweep's grid
                CREATE INDEX jobs_group ON jobs (sweep_group) WHERE sweep_group IS NOT NULL;
                """)
        }
        return migrator
    }
}
