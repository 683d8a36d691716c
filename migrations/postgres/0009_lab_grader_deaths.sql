-- Learner files are graded in a child process. grader_deaths counts how many
-- times grading a run died without an answer: the child crashed, or the
-- instance grading it died and its lease ran out. A run whose grading died
-- twice is failed, never claimed a third time, so one hostile run cannot
-- crash-loop the graders.
ALTER TABLE lab_runs ADD COLUMN grader_deaths BIGINT NOT NULL DEFAULT 0;
