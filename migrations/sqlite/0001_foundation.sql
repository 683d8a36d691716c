-- Accounts, the course structure imported from content/, and learner progress.
-- Booleans are 0/1 integers and times are Unix milliseconds, as on PostgreSQL.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    is_admin        BIGINT  NOT NULL DEFAULT 0,
    session_epoch   BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE password_resets (
    token_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);

CREATE TABLE courses (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    slug          TEXT    NOT NULL UNIQUE,
    title         TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    position      BIGINT  NOT NULL,
    content_hash  TEXT    NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE sections (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id  BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    slug       TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    summary    TEXT    NOT NULL,
    position   BIGINT  NOT NULL,
    UNIQUE (course_id, slug)
);

CREATE TABLE modules (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id           BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    section_id          BIGINT  NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    slug                TEXT    NOT NULL,
    title               TEXT    NOT NULL,
    position            BIGINT  NOT NULL,
    minutes             BIGINT  NOT NULL,
    video_json          TEXT,
    prerequisites_json  TEXT    NOT NULL,
    body_html           TEXT    NOT NULL,
    toc_json            TEXT    NOT NULL,
    published           BIGINT  NOT NULL,
    source_path         TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL,
    updated_at          BIGINT  NOT NULL,
    UNIQUE (course_id, slug)
);

CREATE TABLE activities (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id   BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    section_id  BIGINT  REFERENCES sections(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    minutes     BIGINT  NOT NULL,
    position    BIGINT  NOT NULL
);

CREATE TABLE progress (
    user_id       BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id     BIGINT  NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    completed_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, module_id)
);

CREATE TABLE import_problems (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    course_slug  TEXT    NOT NULL,
    location     TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE INDEX modules_course ON modules (course_id, position);
CREATE INDEX progress_user ON progress (user_id, completed_at);
