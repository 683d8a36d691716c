-- The exam: a versioned question bank, blueprints, attempts and their saved answers.
-- Booleans are 0/1 integers and times are Unix milliseconds, as on PostgreSQL.

CREATE TABLE exam_questions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id        BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    qkey             TEXT    NOT NULL,
    category         TEXT    NOT NULL,
    current_version  BIGINT  NOT NULL,
    position         BIGINT  NOT NULL,
    retired          BIGINT  NOT NULL DEFAULT 0,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (course_id, qkey)
);

-- Every version a question ever had: an attempt points at the exact one it drew.
CREATE TABLE exam_question_versions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id   BIGINT  NOT NULL REFERENCES exam_questions(id) ON DELETE CASCADE,
    version       BIGINT  NOT NULL,
    body_json     TEXT    NOT NULL,
    content_hash  TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    UNIQUE (question_id, version)
);

CREATE TABLE exam_blueprints (
    course_id   BIGINT  PRIMARY KEY REFERENCES courses(id) ON DELETE CASCADE,
    spec_json   TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE exam_attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_id      BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    seed           BIGINT  NOT NULL,
    status         TEXT    NOT NULL,
    started_at     BIGINT  NOT NULL,
    deadline_at    BIGINT  NOT NULL,
    submitted_at   BIGINT,
    submitted_by   TEXT,
    score_bp       BIGINT,
    passed         BIGINT,
    pass_mark_bp   BIGINT  NOT NULL,
    show_answers   BIGINT  NOT NULL
);

-- One active attempt per learner and course, enforced by the database itself.
CREATE UNIQUE INDEX exam_attempts_one_active ON exam_attempts (user_id, course_id) WHERE status = 'active';
CREATE INDEX exam_attempts_deadline ON exam_attempts (status, deadline_at);

CREATE TABLE exam_attempt_items (
    attempt_id           BIGINT  NOT NULL REFERENCES exam_attempts(id) ON DELETE CASCADE,
    position             BIGINT  NOT NULL,
    question_version_id  BIGINT  NOT NULL REFERENCES exam_question_versions(id),
    category             TEXT    NOT NULL,
    layout_json          TEXT    NOT NULL,
    answer_json          TEXT,
    seq                  BIGINT  NOT NULL DEFAULT 0,
    saved_at             BIGINT,
    flagged              BIGINT  NOT NULL DEFAULT 0,
    score_bp             BIGINT,
    PRIMARY KEY (attempt_id, position)
);

-- An administrator's grants for one learner: extra attempts.
CREATE TABLE exam_grants (
    user_id         BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_id       BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    extra_attempts  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, course_id)
);
