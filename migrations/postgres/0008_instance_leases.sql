-- Several instances share one database: a lab run is leased by the instance
-- grading it (lease_owner) until lease_until (Unix milliseconds), and the
-- lease is renewed while the run is graded. A run whose lease ran out belongs
-- to an instance that died: another instance takes it over. claims counts how
-- many times a run was taken, so an operator (and the tests) can see takeovers.
ALTER TABLE lab_runs ADD COLUMN lease_owner TEXT;
ALTER TABLE lab_runs ADD COLUMN lease_until BIGINT;
ALTER TABLE lab_runs ADD COLUMN claims BIGINT NOT NULL DEFAULT 0;
