-- Knowledge base articles. Each change is an audit event of the article's
-- stream holding the whole revision, so the history needs no table here.
CREATE TABLE articles (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'contacts', 'restricted')),
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    revision INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff_users (id),
    updated_by TEXT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
CREATE INDEX articles_status ON articles (status, updated_at);

-- Who may read a `restricted` article: account tiers and named accounts.
CREATE TABLE article_audiences (
    article_id TEXT NOT NULL REFERENCES articles (id),
    kind TEXT NOT NULL CHECK (kind IN ('tier', 'account')),
    value TEXT NOT NULL,
    PRIMARY KEY (article_id, kind, value)
);
CREATE INDEX article_audiences_value ON article_audiences (kind, value);

-- Full-text index over titles and bodies ('simple' configuration, as
-- FTS5's unicode61 on SQLite: no stemming, so both backends match alike).
ALTER TABLE articles ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || body)) STORED;
CREATE INDEX articles_tsv ON articles USING GIN (tsv);

-- Articles suggested to a contact typing a new case's subject, and what
-- the contact did next: gave up (`deflected`) or opened the case.
CREATE TABLE kb_suggestions (
    id TEXT PRIMARY KEY NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    query TEXT NOT NULL,
    -- JSON array of the article ids shown, best first.
    article_ids TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('shown', 'deflected', 'continued')),
    helpful_article_id TEXT,
    case_id TEXT REFERENCES cases (id),
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP
);
CREATE INDEX kb_suggestions_case ON kb_suggestions (case_id);
CREATE INDEX kb_suggestions_account ON kb_suggestions (account_id, created_at);
