DROP INDEX cases_created;
DROP TABLE case_responses;
DROP TABLE case_waits;
