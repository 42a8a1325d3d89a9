//! Configuration: typed settings, loaded from built-in defaults, an
//! optional file, `RAPPORT_*` environment variables and command-line flags
//! (later sources win), then checked as a whole. The settings themselves
//! are the application layer's (`rapport_app::config`).

mod load;
mod validate;

pub use load::{ConfigError, Overrides, load};
pub use rapport_app::config::*;
pub use validate::validate;
