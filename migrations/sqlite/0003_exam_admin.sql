-- The exam's administration: blueprint edits that survive re-imports, extra time,
-- voiding with a reason, and a log of what administrators did.

-- The hash of the blueprint as last read from `exam/blueprint.yaml`: an import of
-- an unchanged file leaves the stored (possibly admin-edited) blueprint alone.
ALTER TABLE exam_blueprints ADD COLUMN source_hash TEXT;
ALTER TABLE exam_blueprints ADD COLUMN edited_by BIGINT;

-- Whether a question came from the course's `exam/` folder: only those are retired
-- when they leave it (a bank imported with `questions import` is not in the folder).
ALTER TABLE exam_questions ADD COLUMN in_folder BIGINT NOT NULL DEFAULT 0;

ALTER TABLE exam_attempts ADD COLUMN extra_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE exam_attempts ADD COLUMN void_reason TEXT;
ALTER TABLE exam_attempts ADD COLUMN voided_at BIGINT;
ALTER TABLE exam_attempts ADD COLUMN voided_by BIGINT;

CREATE TABLE exam_admin_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id   BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    admin_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_id     BIGINT  REFERENCES users(id) ON DELETE CASCADE,
    attempt_id  BIGINT  REFERENCES exam_attempts(id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX exam_admin_log_course ON exam_admin_log (course_id, created_at);
