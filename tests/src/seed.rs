//! Data the tests need that no endpoint creates yet, written through the
//! same store functions the server uses.

use rapport_domain::{EmailAddress, PersonName, StaffRole};
use rapport_store::staff::NewStaff;
use rapport_store::{PoolOptions, Store};

use crate::database::TestDatabase;

pub fn store(db: &TestDatabase) -> Store {
    let url = rapport_store::DatabaseUrl::parse(&db.url).expect("test url");
    let store = Store::connect(
        &url,
        &PoolOptions {
            max_size: 2,
            ..PoolOptions::default()
        },
    )
    .expect("test database reachable");
    store.migrate().expect("migrations");
    store
}

/// An active staff member with a chosen password; returns (email, password).
pub fn staff(db: &TestDatabase, role: &str) -> (String, String) {
    let email = format!("{role}-{}@support.example", uuid::Uuid::now_v7().simple());
    let password = format!("pass-{}", uuid::Uuid::now_v7().simple());
    let role = StaffRole::parse(role).expect("role");
    let store = store(db);
    let mut conn = store.conn().expect("connection");
    rapport_store::staff::insert(
        &mut conn,
        NewStaff {
            email: EmailAddress::parse(&email).expect("email"),
            name: PersonName::parse("Test Person").expect("name"),
            display_name: PersonName::parse("Test Person").expect("name"),
            role,
            password_hash: rapport_server::auth::password::hash(&password).expect("hash"),
            password_change_required: false,
        },
    )
    .expect("staff inserted");
    (email, password)
}

/// Like [`staff`], returning the stored staff member.
pub fn staff_member(db: &TestDatabase, role: &str) -> rapport_store::staff::Staff {
    let (email, _) = staff(db, role);
    let store = store(db);
    let mut conn = store.conn().expect("connection");
    rapport_store::staff::find_by_email(&mut conn, &EmailAddress::parse(&email).expect("email"))
        .expect("staff readable")
        .expect("staff exists")
}
