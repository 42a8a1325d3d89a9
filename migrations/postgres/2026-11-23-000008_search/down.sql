DROP TRIGGER cases_search_subject ON cases;
DROP TRIGGER cases_search_sync ON cases;
DROP TRIGGER case_entries_search_move ON case_entries;
DROP TRIGGER case_entries_search_sync ON case_entries;
DROP FUNCTION cases_search_sync();
DROP FUNCTION case_entries_search_sync();
DROP TABLE search_documents;
