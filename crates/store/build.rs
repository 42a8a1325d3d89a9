//! The migrations are embedded in the binary: a new migration directory must
//! rebuild this crate, which cargo does not notice on its own.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
