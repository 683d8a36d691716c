-- Hands-on labs: definitions imported from content/, each learner's drafts,
-- and every run (attempt) with its files, progress, report and data.
-- The run rows are the queue: a restart finds queued and running rows again.

CREATE TABLE labs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id         BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    section_id        BIGINT  NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    slug              TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    summary           TEXT    NOT NULL,
    position          BIGINT  NOT NULL,
    minutes           BIGINT  NOT NULL,
    instructions_html TEXT    NOT NULL,
    definition_json   TEXT    NOT NULL,
    published         BIGINT  NOT NULL,
    source_path       TEXT    NOT NULL,
    content_hash      TEXT    NOT NULL,
    updated_at        BIGINT  NOT NULL,
    UNIQUE (course_id, slug)
);

CREATE TABLE lab_drafts (
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lab_id      BIGINT  NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    file_name   TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, lab_id, file_name)
);

CREATE TABLE lab_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lab_id         BIGINT  NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    -- queued, running, done, cancelled, failed (the engine itself broke)
    status         TEXT    NOT NULL,
    files_json     TEXT    NOT NULL,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    progress_json  TEXT,
    report_json    TEXT,
    data_json      TEXT,
    passed         BIGINT  NOT NULL DEFAULT 0,
    score          BIGINT  NOT NULL DEFAULT 0,
    max_score      BIGINT  NOT NULL DEFAULT 0,
    queued_at      BIGINT  NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT
);

CREATE TABLE lab_passes (
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lab_id     BIGINT  NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    run_id     BIGINT  NOT NULL REFERENCES lab_runs(id) ON DELETE CASCADE,
    passed_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, lab_id)
);

CREATE TABLE lab_reveals (
    user_id      BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lab_id       BIGINT  NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    revealed_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, lab_id)
);

CREATE INDEX lab_runs_queue ON lab_runs (status, id);
CREATE INDEX lab_runs_user ON lab_runs (user_id, lab_id, id);
CREATE INDEX labs_course ON labs (course_id, position);
-- One run in flight per learner: the queue stays fair and a double click queues once.
CREATE UNIQUE INDEX lab_runs_one_active ON lab_runs (user_id) WHERE status IN ('queued', 'running');
