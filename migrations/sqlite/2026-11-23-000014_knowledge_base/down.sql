DROP TABLE kb_suggestions;
DROP TRIGGER articles_fts_update;
DROP TRIGGER articles_fts_insert;
DROP TABLE articles_fts;
DROP TABLE article_audiences;
DROP TABLE articles;
