DROP TABLE case_entries;
DROP TABLE case_participants;
DROP TABLE cases;
DROP TABLE counters;
