//! The SQLite and PostgreSQL migrations are two copies of one schema. This
//! migrates both and compares tables, columns, indexes and triggers, so a
//! migration written for one backend only fails here. Where the backends
//! differ on purpose (full-text search, how triggers are written), the
//! difference is listed explicitly below.

use std::collections::{BTreeMap, BTreeSet};

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use rapport_store::{PoolOptions, Store};
use rapport_tests::{Backend, TestDatabase};

/// Declared column types that mean the same on both backends.
const SAME_TYPE: &[(&str, &str)] = &[
    ("TEXT", "text"),
    ("INTEGER", "integer"),
    ("BIGINT", "bigint"),
    ("BOOLEAN", "boolean"),
    ("TIMESTAMP", "timestamp without time zone"),
    ("BLOB", "bytea"),
    ("DOUBLE", "double precision"),
];

/// SQLite only: full-text search lives in FTS5 virtual tables (and their
/// shadow tables) where PostgreSQL has a `tsvector` table and columns.
const SQLITE_ONLY_TABLE_PREFIXES: &[&str] = &["search_fts", "articles_fts"];
const POSTGRES_ONLY_TABLES: &[&str] = &["search_documents"];
const POSTGRES_ONLY_COLUMNS: &[(&str, &str)] = &[("articles", "tsv")];
const POSTGRES_ONLY_INDEXES: &[&str] = &["search_documents_tsv", "articles_tsv"];
/// Columns whose types differ on purpose: SQLite numbers rows itself only
/// in an `INTEGER PRIMARY KEY` (64-bit), PostgreSQL in a `BIGINT` identity.
const DIFFERENT_TYPES: &[(&str, &str, &str, &str)] =
    &[("committed_changes", "id", "INTEGER", "BIGINT")];

/// Triggers with the same name and purpose on both backends.
const SHARED_TRIGGERS: &[(&str, &str)] = &[
    ("audit_events", "audit_events_advance_head"),
    ("audit_events", "audit_events_next_seq_only"),
    ("audit_streams", "audit_streams_head_moves_forward"),
    ("case_entries", "case_entries_search_body"),
    ("case_entries", "case_entries_search_move"),
    ("cases", "cases_search_subject"),
];
/// Triggers written differently: SQLite needs one per event where a
/// PostgreSQL trigger covers several (and TRUNCATE, which SQLite lacks);
/// SQLite keeps FTS5 tables in step by trigger where PostgreSQL generates
/// its `tsvector` column. Adding, removing or renaming a trigger on one
/// backend fails here until these lists say why.
const SQLITE_ONLY_TRIGGERS: &[(&str, &str)] = &[
    // = audit_events_no_update_or_delete on PostgreSQL
    ("audit_events", "audit_events_no_update"),
    ("audit_events", "audit_events_no_delete"),
    // = the DELETE branch of audit_streams_head_moves_forward on PostgreSQL
    ("audit_streams", "audit_streams_no_delete"),
    // = case_entries_search_sync and cases_search_sync on PostgreSQL
    ("case_entries", "case_entries_search_insert"),
    ("cases", "cases_search_insert"),
    // = the generated articles.tsv column on PostgreSQL
    ("articles", "articles_fts_insert"),
    ("articles", "articles_fts_update"),
];
const POSTGRES_ONLY_TRIGGERS: &[(&str, &str)] = &[
    ("audit_events", "audit_events_no_update_or_delete"),
    ("audit_events", "audit_events_no_truncate"),
    ("audit_streams", "audit_streams_no_truncate"),
    ("case_entries", "case_entries_search_sync"),
    ("cases", "cases_search_sync"),
];

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    r#type: String,
    #[diesel(sql_type = BigInt)]
    notnull: i64,
}

#[derive(QueryableByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    unique: i64,
    #[diesel(sql_type = Text)]
    origin: String,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Bool)]
    unique: bool,
    #[diesel(sql_type = Bool)]
    primary: bool,
    #[diesel(sql_type = Text)]
    columns: String,
}

#[derive(QueryableByName)]
struct PgTrigger {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    trigger_name: String,
}

/// One backend's schema, in comparable terms.
#[derive(Debug, Default)]
struct Schema {
    /// table -> column -> (canonical type, nullable)
    columns: BTreeMap<String, BTreeMap<String, (String, bool)>>,
    /// index name -> (table, columns, unique)
    indexes: BTreeMap<String, (String, Vec<String>, bool)>,
    triggers: BTreeSet<(String, String)>,
}

fn canonical_sqlite_type(t: &str) -> String {
    let t = t.to_uppercase();
    SAME_TYPE
        .iter()
        .find(|(s, _)| *s == t)
        .map_or_else(|| format!("sqlite:{t}"), |(s, _)| (*s).to_owned())
}

fn canonical_pg_type(t: &str) -> String {
    SAME_TYPE
        .iter()
        .find(|(_, p)| *p == t)
        .map_or_else(|| format!("postgres:{t}"), |(s, _)| (*s).to_owned())
}

fn sqlite_schema(path: &str) -> Schema {
    let mut conn = SqliteConnection::establish(path).expect("open SQLite");
    let tables: Vec<Named> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .unwrap();
    let mut s = Schema::default();
    for Named { name: table } in tables {
        if SQLITE_ONLY_TABLE_PREFIXES
            .iter()
            .any(|p| table.starts_with(p))
        {
            continue;
        }
        let cols: Vec<SqliteColumn> = diesel::sql_query(format!(
            "SELECT name, type, \"notnull\" FROM pragma_table_info('{table}')"
        ))
        .load(&mut conn)
        .unwrap();
        let pk: Vec<Named> = diesel::sql_query(format!(
            "SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"
        ))
        .load(&mut conn)
        .unwrap();
        s.columns.insert(
            table.clone(),
            cols.iter()
                .map(|c| {
                    let in_pk = pk.iter().any(|p| p.name == c.name);
                    let nullable = c.notnull == 0 && !in_pk;
                    (c.name.clone(), (canonical_sqlite_type(&c.r#type), nullable))
                })
                .collect(),
        );
        let indexes: Vec<SqliteIndex> = diesel::sql_query(format!(
            "SELECT name, \"unique\", origin FROM pragma_index_list('{table}')"
        ))
        .load(&mut conn)
        .unwrap();
        for ix in indexes {
            // Primary keys are compared as columns; SQLite names them itself.
            if ix.origin == "pk" {
                continue;
            }
            let cols: Vec<Named> = diesel::sql_query(format!(
                "SELECT name FROM pragma_index_info('{}') ORDER BY seqno",
                ix.name
            ))
            .load(&mut conn)
            .unwrap();
            let name = if ix.origin == "u" {
                // An inline UNIQUE constraint: PostgreSQL names it <table>_<cols>_key.
                let joined: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                format!("{table}_{}_key", joined.join("_"))
            } else {
                ix.name
            };
            s.indexes.insert(
                name,
                (
                    table.clone(),
                    cols.into_iter().map(|c| c.name).collect(),
                    ix.unique == 1,
                ),
            );
        }
    }
    let triggers: Vec<PgTrigger> = diesel::sql_query(
        "SELECT tbl_name AS table_name, name AS trigger_name FROM sqlite_master WHERE type = 'trigger'",
    )
    .load(&mut conn)
    .unwrap();
    s.triggers = triggers
        .into_iter()
        .map(|t| (t.table_name, t.trigger_name))
        .collect();
    s
}

fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::establish(url).expect("open PostgreSQL");
    let mut s = Schema::default();
    let cols: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, \
                (is_nullable = 'YES') AS nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .unwrap();
    for c in cols {
        if POSTGRES_ONLY_TABLES.contains(&c.table_name.as_str())
            || POSTGRES_ONLY_COLUMNS.contains(&(c.table_name.as_str(), c.column_name.as_str()))
        {
            continue;
        }
        s.columns
            .entry(c.table_name)
            .or_default()
            .insert(c.column_name, (canonical_pg_type(&c.data_type), c.nullable));
    }
    let indexes: Vec<PgIndex> = diesel::sql_query(
        "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
                x.indisunique AS unique, x.indisprimary AS primary, \
                (SELECT string_agg(a.attname::text, ',' ORDER BY k.ord) \
                   FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) \
                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum) AS columns \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND t.relname <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .unwrap();
    for ix in indexes {
        if ix.primary
            || POSTGRES_ONLY_INDEXES.contains(&ix.index_name.as_str())
            || POSTGRES_ONLY_TABLES.contains(&ix.table_name.as_str())
        {
            continue;
        }
        s.indexes.insert(
            ix.index_name,
            (
                ix.table_name,
                ix.columns.split(',').map(str::to_owned).collect(),
                ix.unique,
            ),
        );
    }
    let triggers: Vec<PgTrigger> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, t.tgname::text AS trigger_name \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND NOT t.tgisinternal",
    )
    .load(&mut conn)
    .unwrap();
    s.triggers = triggers
        .into_iter()
        .map(|t| (t.table_name, t.trigger_name))
        .collect();
    s
}

fn migrate(db: &TestDatabase) {
    let url = rapport_store::DatabaseUrl::parse(&db.url).unwrap();
    Store::connect(&url, &PoolOptions::default())
        .expect("connect")
        .migrate()
        .expect("migrations apply");
}

fn listed(pairs: &[&[(&str, &str)]]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .flat_map(|p| p.iter())
        .map(|(t, n)| ((*t).to_owned(), (*n).to_owned()))
        .collect()
}

#[test]
fn both_backends_migrate_to_the_same_schema() {
    let Some(pg) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let sqlite = TestDatabase::create(Backend::Sqlite).expect("SQLite always works");
    migrate(&sqlite);
    migrate(&pg);
    let path = sqlite.sqlite_path().expect("a SQLite file");
    let a = sqlite_schema(path.to_str().unwrap());
    let b = postgres_schema(&pg.url);

    assert!(a.columns.len() > 30, "tables read: {:?}", a.columns.keys());
    assert!(a.indexes.len() > 30, "indexes read: {:?}", a.indexes.keys());
    let mut problems = Vec::new();
    let tables_a: BTreeSet<&String> = a.columns.keys().collect();
    let tables_b: BTreeSet<&String> = b.columns.keys().collect();
    for t in tables_a.symmetric_difference(&tables_b) {
        let side = if tables_a.contains(t) {
            "SQLite"
        } else {
            "PostgreSQL"
        };
        problems.push(format!("table {t} exists on {side} only"));
    }
    for (table, cols_a) in &a.columns {
        let Some(cols_b) = b.columns.get(table) else {
            continue;
        };
        for (col, def_a) in cols_a {
            let def_a = &match DIFFERENT_TYPES
                .iter()
                .find(|(t, c, sqlite, _)| t == table && c == col && *sqlite == def_a.0)
            {
                Some((_, _, _, postgres)) => ((*postgres).to_owned(), def_a.1),
                None => def_a.clone(),
            };
            match cols_b.get(col) {
                None => problems.push(format!("{table}.{col} exists on SQLite only")),
                Some(def_b) if def_a != def_b => problems.push(format!(
                    "{table}.{col}: SQLite {def_a:?}, PostgreSQL {def_b:?} (type, nullable)"
                )),
                Some(_) => {}
            }
        }
        for col in cols_b.keys().filter(|c| !cols_a.contains_key(*c)) {
            problems.push(format!("{table}.{col} exists on PostgreSQL only"));
        }
    }
    for (name, def_a) in &a.indexes {
        match b.indexes.get(name) {
            None => problems.push(format!("index {name} exists on SQLite only")),
            Some(def_b) if def_a != def_b => problems.push(format!(
                "index {name}: SQLite {def_a:?}, PostgreSQL {def_b:?}"
            )),
            Some(_) => {}
        }
    }
    for name in b.indexes.keys().filter(|n| !a.indexes.contains_key(*n)) {
        problems.push(format!("index {name} exists on PostgreSQL only"));
    }
    if a.triggers != listed(&[SHARED_TRIGGERS, SQLITE_ONLY_TRIGGERS]) {
        problems.push(format!("SQLite triggers are {:?}", a.triggers));
    }
    if b.triggers != listed(&[SHARED_TRIGGERS, POSTGRES_ONLY_TRIGGERS]) {
        problems.push(format!("PostgreSQL triggers are {:?}", b.triggers));
    }
    assert!(
        problems.is_empty(),
        "the migrations differ between backends:\n{}",
        problems.join("\n")
    );
}
