DROP TRIGGER cases_search_subject;
DROP TRIGGER cases_search_insert;
DROP TRIGGER case_entries_search_move;
DROP TRIGGER case_entries_search_insert;
DROP TABLE search_fts;
