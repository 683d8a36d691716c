-- Authoring: the database's copy of every course file (the source of truth at run
-- time, exported back to content/), every revision of each, authors' unsaved
-- drafts, and an audit log of administrators' actions.
-- Times are Unix milliseconds.

-- One row per file of a course folder, by its path inside the folder
-- (`modules/01-intro.md`, `labs/01-x/lab.yaml`, `media/a.svg`). `synced_hash` is the
-- file's hash when it last matched content/ (import or export); NULL when it was
-- created in the browser and never exported.
CREATE TABLE content_files (
    course_slug  TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    hash         TEXT    NOT NULL,
    synced_hash  TEXT,
    revision     BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (course_slug, path)
);

CREATE TABLE content_revisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    course_slug  TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    revision     BIGINT  NOT NULL,
    body         BLOB    NOT NULL,
    hash         TEXT    NOT NULL,
    author_id    BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    author       TEXT    NOT NULL,
    note         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    UNIQUE (course_slug, path, revision)
);

-- What an author typed but has not saved: kept across reloads and devices.
CREATE TABLE content_drafts (
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_slug    TEXT    NOT NULL,
    path           TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    base_revision  BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (user_id, course_slug, path)
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id     BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    before_text  TEXT,
    after_text   TEXT,
    created_at   BIGINT  NOT NULL
);

CREATE INDEX audit_log_time ON audit_log (created_at);
