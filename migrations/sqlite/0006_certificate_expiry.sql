-- Certificates may expire: the end of a certificate's validity (Unix milliseconds),
-- fixed when it is issued from the course's blueprint and kept through name
-- corrections. NULL: it never expires (every certificate issued before this column).
ALTER TABLE certificates ADD COLUMN valid_until BIGINT;
