DROP TABLE kb_suggestions;
DROP TABLE article_audiences;
DROP TABLE articles;
