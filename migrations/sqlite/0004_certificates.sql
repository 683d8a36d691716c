-- Certificates: signing keys (rotated, never deleted, so earlier credentials still
-- verify) and the certificates issued from passed exam attempts.
-- Booleans are 0/1 integers and times are Unix milliseconds, as on PostgreSQL.

CREATE TABLE cert_keys (
    kid         TEXT    PRIMARY KEY,
    secret_hex  TEXT    NOT NULL,
    public_hex  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    active      BIGINT  NOT NULL DEFAULT 0
);
-- At most one key signs new credentials, even when several instances start at once.
CREATE UNIQUE INDEX cert_keys_one_active ON cert_keys (active) WHERE active = 1;

CREATE TABLE certificates (
    id              TEXT    PRIMARY KEY,
    status_index    BIGINT  NOT NULL UNIQUE,
    attempt_id      BIGINT  NOT NULL UNIQUE,
    user_id         BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    course_id       BIGINT  NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    recipient_name  TEXT    NOT NULL,
    course_title    TEXT    NOT NULL,
    issued_at       BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    kid             TEXT    NOT NULL REFERENCES cert_keys(kid),
    credential_jwt  TEXT    NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT,
    revoked_by      BIGINT
);
CREATE INDEX certificates_user ON certificates (user_id, course_id);
