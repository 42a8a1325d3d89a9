//! Whether the server's database role could rewrite the audit log behind
//! its own guards: a PostgreSQL superuser can switch triggers off
//! (`session_replication_role`), and a table's owner can drop them. The
//! server should run as a role that only reads and appends to the audit
//! tables (docs/operations.md shows how).

use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::connection::DbConnection;
use crate::error::StoreError;

#[derive(QueryableByName)]
struct Flags {
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    owns_audit: bool,
}

/// What is wrong with the role the server connects as, in words for the
/// log; nothing on SQLite (whoever holds the file holds everything).
pub fn audit_risks(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    let flags: Flags = diesel::sql_query(
        "SELECT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser, \
         EXISTS (SELECT 1 FROM pg_tables WHERE tablename IN ('audit_events', 'audit_streams') \
                 AND tableowner = current_user) AS owns_audit",
    )
    .get_result(pg)?;
    let mut risks = Vec::new();
    if flags.superuser {
        risks.push(
            "the database role is a superuser: it can switch off the audit log's guards \
             (session_replication_role); run the server as a role that owns nothing \
             (docs/operations.md, Least privilege)"
                .to_owned(),
        );
    }
    if flags.owns_audit {
        risks.push(
            "the database role owns the audit tables: it can drop their guards; let a \
             separate owner role run migrations and grant the server's role only \
             SELECT and INSERT on them (docs/operations.md, Least privilege)"
                .to_owned(),
        );
    }
    Ok(risks)
}
